"""Helpers of the sweep tests: a tiny spec, its TOML form, and the CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

#: Four configurations x two blocks of 16 replicas: about a second of work in all.
SPEC = {
    "name": "tiny",
    "task": {"name": "SharedHessianQuadratics", "d": 4, "n_aux": 2},
    "method": [{"name": "WGA"}, {"name": "SGDAlone"}],
    "grid": {"zeta": [0.0, 0.5], "step_size": [0.1, 0.2]},
    "steps": 200,
    "replicas": 32,
    "blocks": 2,
    "checkpoints": 6,
    "metrics": ["grad_norm_sq", "subopt"],
}


def toml_text(spec: dict) -> str:
    """A TOML file of a spec dict (the few value types the tests use)."""

    def val(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return f'"{v}"'
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(val(x) for x in v) + "]"
        return repr(v)

    lines, tables = [], []
    for k, v in spec.items():
        if isinstance(v, dict):
            tables.append((f"[{k}]", v))
        elif isinstance(v, list) and v and isinstance(v[0], dict):
            tables += [(f"[[{k}]]", t) for t in v]
        else:
            lines.append(f"{k} = {val(v)}")
    for head, t in tables:
        lines += ["", head] + [f'"{k}" = {val(v)}' for k, v in t.items()]
    return "\n".join(lines) + "\n"


def write_spec(folder: Path, spec: dict = SPEC, name: str = "tiny.toml") -> Path:
    """Write a spec dict as a TOML file in ``folder``."""
    p = folder / name
    p.write_text(toml_text(spec))
    return p


def simlab_cli(*args: str, **kw) -> subprocess.CompletedProcess:
    """Run ``python -m simlab.cli ARGS`` in a subprocess (one numba thread)."""
    env = dict(os.environ, NUMBA_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "simlab.cli", *args], env=env,
                          capture_output=True, text=True, timeout=300, **kw)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (at the time of asking)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class DaskCluster:
    """A real ``dask scheduler`` and ``dask worker`` processes on 127.0.0.1 (no nanny, one
    thread and one numba thread each), for tests; stopped on exit, within seconds.

    Attributes
    ----------
    address : str
    scheduler : subprocess.Popen
    workers : list of subprocess.Popen
    """

    def __init__(self, n_workers: int = 2, timeout: float = 90.0):
        self.n_workers, self.timeout = n_workers, timeout
        self.address = f"tcp://127.0.0.1:{free_port()}"
        self.scheduler = None
        self.workers: list = []

    def __enter__(self) -> DaskCluster:
        import time

        env = dict(os.environ, NUMBA_NUM_THREADS="1", PYTHONUNBUFFERED="1")
        port = self.address.rsplit(":", 1)[1]
        quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        self.scheduler = subprocess.Popen(["dask", "scheduler", "--host", "127.0.0.1", "--port",
                                           port, "--no-dashboard"], **quiet)
        self.workers = [subprocess.Popen(["dask", "worker", self.address, "--nthreads", "1",
                                          "--no-nanny", "--no-dashboard", "--death-timeout",
                                          "60", "--memory-limit", "0"], **quiet)
                        for _ in range(self.n_workers)]
        from distributed import Client

        deadline = time.time() + self.timeout
        while True:
            try:
                with Client(self.address, timeout=5) as c:
                    c.wait_for_workers(self.n_workers, timeout=max(1.0, deadline - time.time()))
                return self
            except (OSError, TimeoutError):
                if time.time() > deadline:
                    self.__exit__()
                    raise
                time.sleep(0.5)

    def stop_scheduler(self) -> None:
        """Kill the scheduler (the workers notice and exit after their death timeout)."""
        self.scheduler.kill()
        self.scheduler.wait(timeout=30)

    def __exit__(self, *exc) -> None:
        for p in self.workers + [self.scheduler]:
            if p is not None and p.poll() is None:
                p.kill()
        for p in self.workers + [self.scheduler]:
            if p is not None:
                p.wait(timeout=30)
