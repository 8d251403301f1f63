"""``simlab neural collab`` end to end on a tiny configuration; the CLI imports no torch."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from simlab.cli import main

TINY = ["neural", "collab", "--n-aux", "2", "--steps", "12", "--seeds", "2", "--hidden", "8",
        "--batch-size", "4", "--measure", "2", "--quiet"]


def test_collab_cli_end_to_end(tmp_path, capsys):
    pytest.importorskip("torch")
    assert main(TINY + ["--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for label in ("Alone", "WGA uniform", "WGA opt", "BC-EMA", "measured: sigma0_sq"):
        assert label in out
    df = pd.read_csv(tmp_path / "collab-neural.csv")
    assert set(df.label) == {"Alone", "WGA uniform", "WGA opt", "BC-EMA"}
    assert set(df.seed) == {0, 1} and df.t.max() == 12 and df.test_loss.notna().all()
    consts = pd.read_csv(tmp_path / "collab-neural-constants.csv")
    assert {"sigma0_sq", "zeta_bar_sq", "mean_bias_sq"} <= set(consts.columns)
    meta = json.loads((tmp_path / "collab-neural.json").read_text())
    assert meta["args"]["n_aux"] == 2 and meta["problem"]["strength"] == 0.2
    assert set(meta["summary"]["final"]) == set(df.label)
    assert 0 < meta["summary"]["final"]["WGA opt"]["alpha0"] <= 1


def test_collab_cli_subset_of_methods_and_given_alpha0(tmp_path, capsys):
    pytest.importorskip("torch")
    argv = TINY + ["--methods", "wga-opt,alone", "--alpha0", "0.6", "--momentum", "running",
                   "--out", str(tmp_path)]
    assert main(argv) == 0
    meta = json.loads((tmp_path / "collab-neural.json").read_text())
    assert list(meta["summary"]["final"]) == ["Alone", "WGA opt"]
    assert meta["summary"]["final"]["WGA opt"]["alpha0"] == pytest.approx(0.6)


@pytest.mark.parametrize("extra, message", [
    (["--strength", "1.5"], "--strength must lie in [0, 1]"),
    (["--n-aux", "-1"], "--n-aux must be an integer >= 0"),
    (["--dataset", "mnist"], "needs --data-dir"),
    (["--dataset", "cifar10", "--data-dir", "/nonexistent/x"], "does not exist"),
    (["--device", "tpu"], "device must be"),
])
def test_collab_cli_bad_input(tmp_path, capsys, extra, message):
    pytest.importorskip("torch")
    assert main(TINY + ["--out", str(tmp_path)] + extra) == 2
    assert message in capsys.readouterr().err


def test_collab_cli_argument_errors(capsys):
    with pytest.raises(SystemExit):
        main(TINY + ["--methods", "wga,sgd"])
    assert "--methods must be a comma-separated subset" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(TINY + ["--momentum", "2"])
    assert "--momentum must lie in (0, 1]" in capsys.readouterr().err


def test_simlab_cli_and_package_do_not_import_torch():
    code = ("import sys; import simlab, simlab.cli; simlab.cli.build_parser(); "
            "import simlab.neural, simlab.neural.cli, simlab.neural.data, simlab.neural.splits; "
            "bad = [m for m in ('torch', 'sklearn') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
