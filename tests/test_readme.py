"""The README's tables are generated from a verify report, and say what a fresh run measures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simlab import readme
from simlab.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


@pytest.fixture(scope="module")
def fresh_report(tmp_path_factory) -> dict:
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
