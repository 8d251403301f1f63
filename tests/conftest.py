"""Shared test settings: hypothesis profiles (derandomized in CI) and an Agg backend."""

import atexit
import os
import shutil
import tempfile

os.environ.setdefault("MPLBACKEND", "Agg")
# figures and notebooks simulate through the result store: keep the tests' records out of
# the working tree (./.simlab/store), in a folder removed at exit
if "SIMLAB_STORE" not in os.environ:
    os.environ["SIMLAB_STORE"] = tempfile.mkdtemp(prefix="simlab-test-store-")
    atexit.register(shutil.rmtree, os.environ["SIMLAB_STORE"], ignore_errors=True)

from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE",
                                                                         "ci"))

collect_ignore = ["cuda"]  # run in their own process by test_cuda_sim.py
