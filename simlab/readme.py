"""The README's tables, generated from a verify report (never typed by hand).

``simlab readme`` reads ``verify-report.json`` (written by ``simlab verify``) and rewrites the
blocks of ``README.md`` between markers::

    <!-- BEGIN simlab:overview -->   ... one row per paper: claims, verdicts, findings, figures
    <!-- END simlab:overview -->
    <!-- BEGIN simlab:verify collab --> ... one row per claim of the paper
    <!-- END simlab:verify collab -->
    <!-- BEGIN simlab:findings collab --> ... the paper's known findings and their evidence
    <!-- END simlab:findings collab -->
    <!-- BEGIN simlab:benchmark collab_mc --> ... the latest JSON line of that benchmark in
    <!-- END simlab:benchmark collab_mc -->       benchmarks/results.jsonl: results, targets
    <!-- BEGIN simlab:fullverify active --> ... the paper's full-profile run, from the report
    <!-- END simlab:fullverify active -->       committed as figures/active_verify_full.json

``simlab readme --check`` exits 1 when the README differs from what the report gives (CI and
a test use it: the tables can only say what a run measured). Every paper's section uses the
same three blocks, so five papers read alike.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from simlab.meta import REPO_ROOT, number

_BLOCK = re.compile(r"(<!-- BEGIN simlab:(?P<name>[a-z]+)(?: (?P<arg>[a-z0-9_-]+))? -->\n)"
                    r"(?P<body>.*?)(<!-- END simlab:(?P=name)(?: (?P=arg))? -->)", re.S)
VERDICTS = ("holds", "violated", "inconclusive")
#: The benchmark columns the README shows (those a record has), in this order.
COLUMNS = ("seconds", "level1_seconds", "startup_seconds", "warmup_seconds", "task_seconds_sum",
           "mean_task_seconds", "workers", "peak_rss_mb", "worker_peak_rss_mb",
           "final_grad_norm_sq", "rel_error_vs_exact", "seconds_train", "seconds_serving",
           "backward", "final_test_acc", "time_to_target_seconds_train",
           "time_to_target_seconds_total")


def _fmt(x) -> str:
    if isinstance(x, str) and x not in ("inf", "-inf", "nan"):
        try:
            float(x)
        except ValueError:
            return x  # a word the benchmark measured ("never")
    v = number(x)
    if v != v:  # nan
        return "-"
    if v in (float("inf"), float("-inf")):
        return "∞" if v > 0 else "−∞"
    return f"{v:.4g}"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _figures(paper: str, root: Path) -> list[Path]:
    return sorted((root / "figures").glob(f"{paper}_*.png"))


def overview_table(report: dict, root: Path = REPO_ROOT) -> str:
    """One row per paper of the report: claims, verdicts, known findings, figures."""
    rows = ["| paper | claims | hold | violated (known findings) | inconclusive | figures |",
            "|---|---:|---:|---|---:|---:|"]
    for paper in sorted({c["id"].split(".")[0] for c in report["claims"]}):
        cs = [c for c in report["claims"] if c["id"].startswith(paper + ".")]
        n = {v: sum(c["verdict"] == v for c in cs) for v in VERDICTS}
        known = [c["id"].split(".", 1)[1] for c in cs if c.get("known_finding")]
        found = f"{n['violated']} ({len(known)}: {', '.join(known)})" if known else \
            str(n["violated"])
        rows.append(f"| [{paper}](#{paper}) | {len(cs)} | {n['holds']} | {found} | "
                    f"{n['inconclusive']} | {len(_figures(paper, root))} |")
    return "\n".join(rows)


def verify_table(report: dict, paper: str) -> str:
    """One row per claim of ``paper``: statement, provenance, bound, methods, verdict, numbers."""
    rows = ["| claim | title | provenance | prediction (bound) | methods | verdict | "
            "measured [interval] vs theory |", "|---|---|---|---|---|---|---|"]
    for c in report["claims"]:
        if not c["id"].startswith(paper + "."):
            continue
        verdict = c["verdict"] + (" (known finding)" if c.get("known_finding") else "")
        lo, hi = c["interval"]
        rows.append("| " + " | ".join(_cell(x) for x in (
            c["id"].split(".", 1)[1], c.get("title", ""), c["provenance"],
            "; ".join(c.get("bounds", [])), "; ".join(c.get("methods", [])), verdict,
            f"{_fmt(c['measured'])} [{_fmt(lo)}, {_fmt(hi)}] vs {_fmt(c['theory'])}")) + " |")
    return "\n".join(rows)


def findings_block(report: dict, paper: str) -> str:
    """The paper's known findings (violated claims with their recorded evidence)."""
    out = [f"- **{c['id']}** ({c.get('title', '')}): {c['known_finding']}"
           for c in report["claims"] if c["id"].startswith(paper + ".") and
           c.get("known_finding")]
    return "\n".join(out) if out else "No claim of this paper is violated."


def latest_benchmark(name: str, root: Path = REPO_ROOT) -> dict | None:
    """The last JSON line of benchmark ``name`` in ``benchmarks/results.jsonl``."""
    path = root / "benchmarks" / "results.jsonl"
    found = None
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                rec = json.loads(line)
                if rec.get("benchmark") == name:
                    found = rec
    return found


def benchmark_block(name: str, root: Path = REPO_ROOT) -> str:
    """The latest run of a benchmark: machine, every implementation's numbers, the targets."""
    rec = latest_benchmark(name, root)
    if rec is None:
        return f"No run of `{name}` is recorded in benchmarks/results.jsonl."
    v = rec.get("versions", {})
    head = (f"`python benchmarks/{name}.py` ({v.get('machine', '?')}, {rec.get('threads')} "
            f"threads; numba {v.get('numba', '?')}, numpy {v.get('numpy', '?')}):")
    present = {k for r in rec["results"].values() for k in r}
    cols = [c for c in COLUMNS if c in present]
    rows = ["| implementation | " + " | ".join(c.replace("_", " ") for c in cols) + " |",
            "|---|" + "---:|" * len(cols)]
    for impl, r in rec["results"].items():
        rows.append(f"| {impl} | " + " | ".join(_fmt(r[c]) if c in r else "" for c in cols)
                    + " |")
    rows += ["", "| target | value | goal | pass |", "|---|---:|---|---|"]
    for t, x in rec.get("targets", {}).items():
        val = x["value"] if isinstance(x["value"], bool) else _fmt(x["value"])
        rows.append(f"| {t} | {val} | {x['goal']} | {x['pass']} |")
    return head + "\n\n" + "\n".join(rows)


def full_report_path(paper: str, root: Path = REPO_ROOT) -> Path:
    """Where a paper's full-profile report is kept (``simlab verify --paper P --full`` writes
    ``verify-report.json``; copy it there)."""
    return root / "figures" / f"{paper}_verify_full.json"


def full_block(paper: str, root: Path = REPO_ROOT) -> str:
    """The paper's recorded full-profile run: the command, the commit, the time, the verify
    table and each claim's details (what was measured where)."""
    path = full_report_path(paper, root)
    if not path.exists():
        return f"No full-profile run of `{paper}` is recorded ({path.name})."
    rep = json.loads(path.read_text())
    cs = [c for c in rep["claims"] if c["id"].startswith(paper + ".")]
    state = "" if rep.get("clean") else ", with uncommitted changes"
    head = (f"`simlab verify --paper {paper} --full` at commit {str(rep.get('commit'))[:7]}"
            f"{state}, {len(cs)} claims in {number(rep.get('seconds')):.0f} s:")
    details = [f"- **{c['id'].split('.', 1)[1]}** ({c['verdict']}): {_cell(c['details'])}"
               for c in cs]
    return head + "\n\n" + verify_table(rep, paper) + "\n\n" + "\n".join(details)


def render(text: str, report: dict, root: Path = REPO_ROOT) -> str:
    """``text`` with every marked block regenerated from ``report`` (and the benchmarks')."""
    def repl(m: re.Match) -> str:
        name, arg = m["name"], m["arg"]
        if name == "overview":
            body = overview_table(report, root)
        elif name == "verify":
            body = verify_table(report, arg)
        elif name == "findings":
            body = findings_block(report, arg)
        elif name == "benchmark":
            body = benchmark_block(arg, root)
        elif name == "fullverify":
            body = full_block(arg, root)
        else:
            return m[0]
        return f"{m[1]}{body}\n{m[5]}"

    return _BLOCK.sub(repl, text)


def blocks(text: str) -> dict[str, str]:
    """The marked blocks of a README: ``"verify collab" -> body``."""
    return {(m["name"] + (f" {m['arg']}" if m["arg"] else "")): m["body"]
            for m in _BLOCK.finditer(text)}


def verdict_rows(body: str) -> list[tuple[str, str]]:
    """``(claim, verdict)`` of each row of a generated verify table."""
    out = []
    for line in body.splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if len(cells) >= 6:
            out.append((cells[0], cells[5]))
    return out


def main(argv: list[str] | None = None) -> int:
    """``simlab readme [--report R] [--readme F] [--check]``."""
    p = argparse.ArgumentParser(prog="simlab readme", description=__doc__.splitlines()[0])
    p.add_argument("--report", default="verify-report.json",
                   help="a verify report (default ./verify-report.json)")
    p.add_argument("--readme", default=str(REPO_ROOT / "README.md"), help="the README to update")
    p.add_argument("--check", action="store_true",
                   help="do not write; exit 1 if the README differs from the report")
    args = p.parse_args(argv)
    try:
        report = json.loads(Path(args.report).read_text())
    except (OSError, ValueError) as e:
        print(f"error: cannot read the report {args.report}: {e}; run `simlab verify` first",
              file=sys.stderr)
        return 2
    path = Path(args.readme)
    old = path.read_text()
    new = render(old, report)
    if args.check:
        if new != old:
            print(f"{path} differs from {args.report}; run `simlab readme`", file=sys.stderr)
            return 1
        return 0
    path.write_text(new)
    print(f"wrote {path} from {args.report}")
    return 0
