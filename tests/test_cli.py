"""The command line: verify writes its reports and sets the exit status; list prints claims."""

import json

from simlab import claims as claims_mod
from simlab.cli import main


def test_verify_one_claim_writes_reports(tmp_path, capsys):
    assert main(["verify", "--claim", "collab.P13", "--out", str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "collab.P13" in out and "holds" in out and "[D]" in out
    rep = json.loads((tmp_path / "verify-report.json").read_text())
    (c,) = rep["claims"]
    assert c["id"] == "collab.P13" and c["verdict"] == "holds"
    for key in ("measured", "interval", "theory", "known_finding", "bounds", "methods"):
        assert key in c
    assert c["bounds"] == ["REDUCTIONS (derived)"]
    assert c["methods"] == ["Alone [V]", "WGA [V]", "BC-EMA [UNVERIFIED]"]
    assert "collab.P13" in (tmp_path / "verify-report.md").read_text()


def test_verify_exit_status_on_unrecorded_violation(tmp_path, monkeypatch):
    from dataclasses import replace

    claim = claims_mod.load_all()["collab.P13"]
    real = claim.measure
    monkeypatch.setattr(claim, "measure", lambda run: real(replace(run, planted=True)))
    assert main(["verify", "--claim", "collab.P13", "--out", str(tmp_path), "--quiet"]) == 1
    # recorded as a known finding: reported, but not a failure
    monkeypatch.setitem(claims_mod.KNOWN_FINDINGS, "collab.P13", "test evidence")
    assert main(["verify", "--claim", "collab.P13", "--out", str(tmp_path), "--quiet"]) == 0
    rep = json.loads((tmp_path / "verify-report.json").read_text())
    assert rep["claims"][0]["known_finding"] == "test evidence"


def test_verify_rejects_unknown_claim_and_paper(tmp_path, capsys):
    assert main(["verify", "--claim", "collab.P99", "--out", str(tmp_path)]) == 2
    assert "unknown claim" in capsys.readouterr().err
    assert main(["verify", "--paper", "nope", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--paper must be among" in err and "collab" in err  # the registry's papers


def test_verify_resolves_a_bare_claim_id(tmp_path, capsys):
    assert main(["verify", "--claim", "P13", "--out", str(tmp_path), "--quiet"]) == 0
    assert "collab.P13" in capsys.readouterr().out


def test_list_shows_claims_with_provenance(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "collab.P1" in out and "[D]" in out and "planted error" in out
