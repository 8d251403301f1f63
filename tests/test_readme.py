"""The README's tables are generated from a verify report, and say what a fresh run measures.

The fresh run is ``simlab verify`` (quick) in a temporary folder, unless the checkout's own
``verify-report.json`` already is one: written by the quick budget from a clean tree at the
current commit, the tree still clean, covering every registered claim (as in CI, where the
README's first command has just run it on the same clone). The claims are seeded, so the two
are the same run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simlab import readme
from simlab.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _reusable_report() -> dict | None:
    from simlab.claims import load_all
    from simlab.meta import git_commit, tree_clean

    path = ROOT / "verify-report.json"
    if not path.exists():
        return None
    try:
        rep = json.loads(path.read_text())
    except ValueError:
        return None
    ids = {c["id"] for c in rep.get("claims", [])}
    ok = (rep.get("budget") == "quick" and rep.get("clean") is True
          and rep.get("commit") == git_commit() and tree_clean()
          and ids == set(load_all()))
    return rep if ok else None


@pytest.fixture(scope="module")
def fresh_report(tmp_path_factory) -> dict:
    rep = _reusable_report()
    if rep is not None:
        return rep
    out = tmp_path_factory.mktemp("verify")
    assert main(["verify", "--out", str(out), "--quiet"]) == 0
    return json.loads((out / "verify-report.json").read_text())


def test_the_readme_begins_with_the_two_commands_and_the_overview():
    lines = README.splitlines()
    assert lines[2:6] == ["```bash", 'pip install torch==2.13.0 && pip install -e ".[dev]" && '
                          "simlab verify", "pytest", "```"]
    head = "\n".join(lines[:40])
    assert "<!-- BEGIN simlab:overview -->" in head


def test_every_paper_section_has_the_generated_blocks(fresh_report):
    got = readme.blocks(README)
    for paper in fresh_report["papers"]:
        for name in ("verify", "findings"):
            assert f"{name} {paper}" in got, (paper, name)
    assert "overview" in got


def test_the_tables_match_a_fresh_quick_run(fresh_report):
    regenerated = readme.blocks(readme.render(README, fresh_report))
    committed = readme.blocks(README)
    for paper in fresh_report["papers"]:
        key = f"verify {paper}"
        assert readme.verdict_rows(committed[key]) == readme.verdict_rows(regenerated[key])
        assert len(readme.verdict_rows(committed[key])) == sum(
            c["id"].startswith(paper + ".") for c in fresh_report["claims"])
        assert committed[f"findings {paper}"] == regenerated[f"findings {paper}"]
    # the overview's counts (claims, verdicts, findings, figures)
    assert committed["overview"] == regenerated["overview"]


def test_check_mode_fails_on_a_hand_edited_table(tmp_path, fresh_report):
    report = tmp_path / "r.json"
    report.write_text(json.dumps(fresh_report))
    edited = tmp_path / "README.md"
    edited.write_text(README.replace("| holds |", "| holds (typed) |", 1))
    assert readme.main(["--report", str(report), "--readme", str(edited), "--check"]) == 1
    assert readme.main(["--report", str(report), "--readme", str(edited)]) == 0
    assert readme.main(["--report", str(report), "--readme", str(edited), "--check"]) == 0
    assert readme.main(["--report", str(tmp_path / "none.json"), "--readme", str(edited)]) == 2


def test_a_report_is_reused_only_from_a_clean_tree_at_this_commit(tmp_path, monkeypatch):
    import test_readme as mod

    from simlab.claims import load_all
    from simlab.meta import git_commit

    monkeypatch.setattr(mod, "ROOT", tmp_path)
    monkeypatch.setattr("simlab.meta.tree_clean", lambda: True)
    rep = {"budget": "quick", "clean": True, "commit": git_commit(),
           "claims": [{"id": c} for c in load_all()]}
    (tmp_path / "verify-report.json").write_text(json.dumps(rep))
    assert mod._reusable_report() == rep
    for bad in ({"clean": False}, {"commit": "0000000"}, {"budget": "full"},
                {"claims": rep["claims"][1:]}):
        (tmp_path / "verify-report.json").write_text(json.dumps({**rep, **bad}))
        assert mod._reusable_report() is None, bad
    monkeypatch.setattr("simlab.meta.tree_clean", lambda: False)
    (tmp_path / "verify-report.json").write_text(json.dumps(rep))
    assert mod._reusable_report() is None


def test_the_full_profile_block_is_generated_from_its_committed_report(tmp_path):
    assert "No full-profile run of `active`" in readme.full_block("active", tmp_path)
    (tmp_path / "figures").mkdir()
    rep = {"budget": "full", "clean": True, "commit": "abcdef123456", "seconds": 1234.4,
           "claims": [{"id": "active.T9", "title": "a title", "provenance": "spec 1",
                       "bounds": ["T9 (reconstructed)"], "methods": ["m [S]"],
                       "verdict": "inconclusive", "measured": 0.96, "interval": [0.9, 1.04],
                       "theory": 1.0, "details": "beta(d=3) / beta(d=2) = 0.96 | x"},
                      {"id": "collab.P1", "verdict": "holds", "details": "other paper"}]}
    readme.full_report_path("active", tmp_path).write_text(json.dumps(rep))
    body = readme.full_block("active", tmp_path)
    assert body.startswith("`simlab verify --paper active --full` at commit abcdef1, 1 claims "
                           "in 1234 s:")
    assert "| T9 | a title | spec 1 |" in body and "| inconclusive | 0.96 [0.9, 1.04] vs 1 |" \
        in body
    assert "- **T9** (inconclusive): beta(d=3) / beta(d=2) = 0.96 \\| x" in body
    assert "other paper" not in body
    text = "<!-- BEGIN simlab:fullverify active -->\nstale\n<!-- END simlab:fullverify active -->"
    assert readme.render(text, {"claims": []}, tmp_path) == (
        "<!-- BEGIN simlab:fullverify active -->\n" + body +
        "\n<!-- END simlab:fullverify active -->")
