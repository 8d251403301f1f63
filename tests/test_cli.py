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
    for key in ("measured", "interval", "theory", "known_finding"):
        assert key in c
    assert "collab.P13" in (tmp_path / "verify-report.md").read_text()


def test_verify_exit_status_on_unrecorded_violation(tmp_path, monkeypatch):
    claim = claims_mod.load_all()["collab.P13"]
    real = claim.fn
    monkeypatch.setattr(claim, "fn", lambda p, b, s, planted, backend: real(p, b, s, True,
                                                                             backend))
    assert main(["verify", "--claim", "collab.P13", "--out", str(tmp_path), "--quiet"]) == 1
    # recorded as a known finding: reported, but not a failure
    monkeypatch.setitem(claims_mod.KNOWN_FINDINGS, "collab.P13", "test evidence")
    assert main(["verify", "--claim", "collab.P13", "--out", str(tmp_path), "--quiet"]) == 0
    rep = json.loads((tmp_path / "verify-report.json").read_text())
    assert rep["claims"][0]["known_finding"] == "test evidence"


def test_verify_rejects_unknown_claim_and_paper(tmp_path, capsys):
    assert main(["verify", "--claim", "collab.P99", "--out", str(tmp_path)]) == 2
    assert main(["verify", "--paper", "nope", "--out", str(tmp_path)]) == 2
    assert "unknown claim" in capsys.readouterr().err


def test_list_shows_claims_with_provenance(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "collab.P1" in out and "[D]" in out and "planted error" in out
