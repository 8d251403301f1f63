"""Command line: ``simlab verify | list | figures | readme | sweep | neural``.

``simlab verify`` runs every registered claim at the quick budget (``--full`` for the full one),
prints a table with provenance, writes ``verify-report.md`` and ``verify-report.json``, and exits
with status 1 when a claim is violated and is not a recorded known finding.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from simlab.claims import KNOWN_FINDINGS, Verdict, load_all
from simlab.meta import dumps, git_commit, tree_clean

SYMBOL = {"holds": "holds", "violated": "VIOLATED", "inconclusive": "inconclusive"}


def _fmt(x: float) -> str:
    return f"{x:.4g}" if isinstance(x, (int, float)) else str(x)


def _row(v: Verdict, claim) -> list[str]:
    verdict = SYMBOL[v.verdict] + (" (known finding)" if v.known_finding else "")
    return [v.id, claim.title, v.provenance, "; ".join(v.bounds), "; ".join(v.methods),
            v.check, verdict, _fmt(v.measured),
            f"[{_fmt(v.interval[0])}, {_fmt(v.interval[1])}]", _fmt(v.theory),
            f"{v.margin:+.3g}", f"{v.seconds:.1f}s"]


HEADER = ["claim", "title", "provenance", "bound", "methods", "check", "verdict", "measured",
          "interval", "theory", "margin", "time"]


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [HEADER] + rows) for i in range(len(HEADER))]
    line = "  ".join(h.ljust(w) for h, w in zip(HEADER, widths))
    out = [line, "-" * len(line)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(out)


def _markdown(rows, verdicts, budget, seconds) -> str:
    md = [f"# simlab verify report ({budget} budget)", "",
          f"commit `{git_commit()}`, {time.strftime('%Y-%m-%d %H:%M:%S')}, "
          f"{seconds:.0f} s in all.", "",
          "Provenance tags are the spec's: [D] derived for simlab (not quoted from the paper), "
          "[V] verified from the paper's abstract or introduction, [V-3P] verified through a "
          "third party, [UNVERIFIED] reconstructed. The bound column names the sympy Bound "
          "objects of `theory/` that make the prediction, each with its own provenance "
          "(paper / derived / reconstructed); the methods column names the methods run, each "
          "with its provenance in the spec.", "",
          "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    md += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    md += ["", "## Details", ""]
    for v in verdicts:
        md.append(f"- **{v.id}** ({v.verdict}, seed {v.seed}): {v.details}")
        if v.known_finding:
            md.append(f"  - known finding: {v.known_finding}")
    return "\n".join(md) + "\n"


def select_claims(registry, papers=None, ids=None):
    """The claims to run: those of ``papers`` (all by default), or the ``ids`` given.

    Raises
    ------
    ValueError
        An unknown paper or claim (naming the registered ones).
    """
    claims = registry.ordered()
    if papers:
        bad = [p for p in papers if p not in registry.papers]
        if bad:
            raise ValueError(f"--paper must be among {registry.papers}, got {bad}")
        claims = [c for c in claims if c.paper in papers]
    if ids:
        try:
            claims = [registry.resolve(i) for i in ids]
        except KeyError as e:
            raise ValueError(str(e.args[0])) from None
    return claims


def cmd_verify(args) -> int:
    """Run the claims and write the reports; return the exit status."""
    registry = load_all()
    try:
        claims = select_claims(registry, args.paper, args.claim)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    budget = "full" if args.full else "quick"
    from tqdm import tqdm

    verdicts, rows = [], []
    t0 = time.perf_counter()
    bar = tqdm(claims, desc=f"verify ({budget})", unit="claim",
               disable=args.quiet or not sys.stderr.isatty())
    for claim in bar:
        bar.set_postfix_str(claim.id)
        v = claim.run(budget=budget, backend=args.backend)
        verdicts.append(v)
        rows.append(_row(v, claim))
    seconds = time.perf_counter() - t0
    table = _table(rows)
    print(table)
    n = {k: sum(v.verdict == k for v in verdicts) for k in ("holds", "violated", "inconclusive")}
    known = sum(1 for v in verdicts if v.known_finding)
    print(f"\n{len(verdicts)} claims: {n['holds']} hold, {n['violated']} violated "
          f"({known} known findings), {n['inconclusive']} inconclusive; {seconds:.0f} s")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "verify-report.md").write_text(_markdown(rows, verdicts, budget, seconds))
    report = {"budget": budget, "commit": git_commit(), "clean": tree_clean(),
              "seconds": seconds,
              "papers": sorted({c.paper for c in claims}),
              "claims": [dict(v.to_dict(), title=c.title) for v, c in zip(verdicts, claims)]}
    (out / "verify-report.json").write_text(dumps(report, indent=2))
    print(f"wrote {out / 'verify-report.md'} and {out / 'verify-report.json'}")
    bad = [v.id for v in verdicts if not v.ok]
    if bad:
        print(f"violated (not known findings): {bad}", file=sys.stderr)
        return 1
    return 0


def cmd_list(args) -> int:
    """Print the registered claims and figures with their provenance."""
    registry = load_all()
    for paper in registry.papers:
        print(f"{paper}:")
        for c in registry.for_paper(paper):
            kf = "  [known finding]" if c.id in KNOWN_FINDINGS else ""
            print(f"  {c.id:<11} {c.title}{kf}")
            print(f"  {'':<11} provenance {c.provenance}; check {c.check.kind}; bound "
                  f"{'; '.join(c.bound_labels)}; methods {'; '.join(c.method_labels)}")
            print(f"  {'':<11} planted error: {c.planted_error}")
    figs = _figure_scripts()
    if figs:
        print("figures:")
        for f in figs:
            print(f"  {f.stem:<28} {_first_doc_line(f)}")
    return 0


def _figures_dir() -> Path:
    here = Path(__file__).resolve().parent.parent / "figures"
    return here if here.is_dir() else Path.cwd() / "figures"


def _figure_scripts(paper: str | None = None) -> list[Path]:
    d = _figures_dir()
    if not d.is_dir():
        return []
    pat = f"{paper}_*.py" if paper else "*_*.py"
    return sorted(p for p in d.glob(pat) if not p.name.startswith("_"))


def _first_doc_line(path: Path) -> str:
    import ast

    try:
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    except SyntaxError:
        return ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def cmd_figures(args) -> int:
    """Run every figure script of a paper (``figures/<paper>_*.py``)."""
    scripts = _figure_scripts(args.paper)
    if not scripts:
        print(f"error: no figure scripts for paper {args.paper!r} in {_figures_dir()}",
              file=sys.stderr)
        return 2
    if args.only:
        scripts = [s for s in scripts if any(o in s.stem for o in args.only)]
    env = dict(os.environ, MPLBACKEND=os.environ.get("MPLBACKEND", "Agg"))
    status = 0
    for s in scripts:
        print(f"== {s.name}")
        cmd = [sys.executable, str(s)] + (["--quick"] if args.quick else [])
        r = subprocess.run(cmd, env=env, check=False)
        status |= r.returncode
    return 1 if status else 0


def cmd_readme(args) -> int:
    """``simlab readme``: the README's generated tables (:mod:`simlab.readme`)."""
    from simlab import readme

    argv = ["--report", args.report] + (["--readme", args.readme] if args.readme else [])
    return readme.main(argv + (["--check"] if args.check else []))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``simlab`` command."""
    p = argparse.ArgumentParser(prog="simlab", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    v = sub.add_parser("verify", help="run the registered claims and write the report")
    v.add_argument("--full", action="store_true", help="use the full budget (slow)")
    v.add_argument("--claim", action="append", metavar="ID",
                   help="run only this claim (repeatable), e.g. collab.P1 (or P1 when "
                        "unambiguous)")
    v.add_argument("--paper", action="append", metavar="PAPER",
                   help="run only this paper's claims (repeatable); the papers are those "
                        "with registered claims (see `simlab list`)")
    v.add_argument("--backend", default="numba", choices=("numba", "numpy", "cuda"))
    v.add_argument("--out", default=".", help="folder for verify-report.md/.json")
    v.add_argument("--quiet", action="store_true", help="no progress bar")
    v.set_defaults(func=cmd_verify)
    ls = sub.add_parser("list", help="list claims and figures with provenance")
    ls.set_defaults(func=cmd_list)
    f = sub.add_parser("figures", help="regenerate a paper's figures")
    f.add_argument("paper", help="paper short name, e.g. collab")
    f.add_argument("--quick", action="store_true", help="small budgets (for CI)")
    f.add_argument("--only", action="append", help="only scripts whose name contains this")
    f.set_defaults(func=cmd_figures)
    rd = sub.add_parser("readme", help="regenerate the README's tables from a verify report")
    rd.add_argument("--report", default="verify-report.json",
                    help="a verify report (default ./verify-report.json)")
    rd.add_argument("--readme", default=None, help="the README to update (default: the repo's)")
    rd.add_argument("--check", action="store_true",
                    help="do not write; exit 1 if the README differs from the report")
    rd.set_defaults(func=cmd_readme)
    from simlab.sweep.cli import add_sweep_parser  # simlab sweep run|status|show

    add_sweep_parser(sub)
    from simlab.neural.cli import add_neural_parser  # simlab neural collab (torch when run)

    add_neural_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``simlab`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:  # e.g. `simlab list | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
