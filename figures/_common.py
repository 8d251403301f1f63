"""Shared helpers of the figure scripts: arguments, measurements, bands and sidecars.

Every ``figures/<paper>_*.py`` script uses these, so that all figures read the same way:

* :func:`parse_args`: ``--quick``, ``--out DIR``, ``--replicas R``, ``--seed S``, ``--quiet``,
  and the script's budget (``default`` or ``quick``) with the ``--replicas`` override;
* :class:`Curve`: a metric over replicas along an axis, summarised as the mean, its 95%
  confidence interval and the 10-90% quantiles of the replicas; :func:`plot_curve` draws it as a
  line with two bands, and :func:`band_legend` explains the bands in the legend;
* :func:`final_values`, :func:`tuned_time_to_eps`: the two measurements the sweeps need (the
  error at the horizon, per replica; spec 8.3's time-to-eps, tuned over a step-size grid: the
  claims' own, :mod:`simlab.collab.measure`, with 95% intervals); both simulate through the
  result store (:mod:`simlab.sweep.cache`; ``SIMLAB_STORE=off`` turns it off), so a second run
  of a figure reads its simulations back;
* :func:`save`: the PNG (dpi 110) and its JSON sidecar (command line, seeds, parameters, git
  commit, the plotted numbers and the measured summary). Non-finite numbers are written as
  ``null``, never as ``NaN``.

Run as a script (``python figures/collab_f1_bias_variance.py``), a figure finds this module
beside it on ``sys.path``; tests and notebooks put ``figures/`` on the path first.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

if ("matplotlib.pyplot" not in sys.modules and not os.environ.get("MPLBACKEND")
        and "ipykernel" not in sys.modules):
    matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.legend import Legend  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from scipy import stats as sps  # noqa: E402

from simlab.collab import measure  # noqa: E402
from simlab.collab.measure import TimeToEps, eta_grid  # noqa: E402, F401  (figures import it)
from simlab.engine.model import Method, Task  # noqa: E402
from simlab.meta import git_commit, jsonable  # noqa: E402, F401
from simlab.sweep.cache import cached_simulate  # noqa: E402

FIGURES_DIR = Path(__file__).resolve().parent
REPO_ROOT = FIGURES_DIR.parent
FIGSIZE = (6.4, 4.2)
DPI = 110
MAX_PNG_BYTES = 300_000
#: Colours of the methods, the same in every figure.
COLORS = {
    "Alone": "#4d4d4d",
    "WGA uniform": "#d62728",
    "WGA opt": "#ff7f0e",
    "BC-EMA": "#1f77b4",
    "BC-MVR": "#9467bd",
    "AuxMOM": "#1f77b4",
    "AuxMVR": "#9467bd",
    "theory": "#2ca02c",
}
CYCLE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2")
Z95 = float(sps.norm.ppf(0.975))
QUANTILES = (0.1, 0.9)


# --- command line -------------------------------------------------------------------------

def parse_args(argv: Sequence[str] | None, doc: str | None, budgets: dict[str, dict]
               ) -> argparse.Namespace:
    """Parse a figure script's arguments and resolve its budget.

    Parameters
    ----------
    argv : sequence of str or None
        Arguments without the program name; ``None`` reads ``sys.argv[1:]``.
    doc : str
        The script's docstring; its first line is the parser's description.
    budgets : dict
        ``{"default": {...}, "quick": {...}}``; each must hold ``replicas``.

    Returns
    -------
    argparse.Namespace
        With ``quick``, ``out`` (a created :class:`~pathlib.Path`), ``replicas``, ``seed``,
        ``quiet``, plus ``budget`` (the resolved dict), ``budget_name``, ``argv`` and ``t0``.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=(doc or "").strip().splitlines()[0]
                                if doc else None)
    p.add_argument("--quick", action="store_true",
                   help="tiny budget (a few seconds; for CI and smoke tests)")
    p.add_argument("--out", default=str(FIGURES_DIR),
                   help="folder for the PNG and its JSON sidecar (default: figures/)")
    p.add_argument("--replicas", type=int, default=None,
                   help="replicas per configuration (overrides the budget's; >= 2)")
    p.add_argument("--seed", type=int, default=0, help="simulation seed (>= 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    if args.replicas is not None and args.replicas < 2:
        p.error(f"--replicas must be an integer >= 2 (a confidence band needs two), got "
                f"{args.replicas}")
    if args.seed < 0:
        p.error(f"--seed must be an integer >= 0, got {args.seed}")
    args.budget_name = "quick" if args.quick else "default"
    args.budget = dict(budgets[args.budget_name])
    if args.replicas is not None:
        args.budget["replicas"] = args.replicas
    args.out = Path(args.out)
    args.out.mkdir(parents=True, exist_ok=True)
    args.argv = argv
    args.t0 = time.perf_counter()
    return args


def progress(items: Iterable, args: argparse.Namespace, desc: str, total: int | None = None
             ) -> Iterable:
    """A tqdm bar over ``items``, silent with ``--quiet`` or when stderr is not a terminal."""
    from tqdm import tqdm

    return tqdm(items, desc=desc, total=total, leave=False,
                disable=bool(getattr(args, "quiet", False)) or not sys.stderr.isatty())


# --- summaries over replicas --------------------------------------------------------------

@dataclass
class Curve:
    """A metric over replicas along an axis ``x``.

    Attributes
    ----------
    x : ndarray, shape (K,)
    mean : ndarray, shape (K,)
        Mean over replicas.
    lo, hi : ndarray, shape (K,)
        95% normal confidence interval of the mean.
    q_lo, q_hi : ndarray, shape (K,)
        10% and 90% quantiles of the replicas.
    replicas : int
    """

    x: np.ndarray
    mean: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    q_lo: np.ndarray
    q_hi: np.ndarray
    replicas: int

    @classmethod
    def from_samples(cls, x, samples) -> Curve:
        """From ``samples[k, r]``: replica ``r``'s value at ``x[k]`` (finite values only)."""
        v = np.asarray(samples, dtype=np.float64)
        if v.ndim != 2:
            raise ValueError(f"samples must have shape (K, R), got {v.shape}")
        if not np.all(np.isfinite(v)):
            raise ValueError("samples contain NaN or inf; a figure never plots them")
        R = v.shape[1]
        m = v.mean(axis=1)
        se = v.std(axis=1, ddof=1) / np.sqrt(R) if R > 1 else np.zeros_like(m)
        q = np.quantile(v, QUANTILES, axis=1)
        return cls(np.asarray(x, dtype=np.float64), m, m - Z95 * se, m + Z95 * se, q[0], q[1],
                   R)

    @classmethod
    def from_trace(cls, trace, metric: str, start: int = 1) -> Curve:
        """From a :class:`~simlab.engine.trace.Trace`, skipping checkpoints ``t < start``
        (``t = 0`` cannot sit on a log axis)."""
        keep = trace.checkpoints >= start
        return cls.from_samples(trace.checkpoints[keep], trace.metric(metric)[keep])

    @property
    def se(self) -> np.ndarray:
        """Standard error of the mean."""
        return (self.hi - self.mean) / Z95

    def record(self, n: int = 60, log: bool = True) -> dict:
        """The curve for a sidecar, downsampled to at most ``n`` points."""
        idx = downsample(len(self.x), n, log)
        return {"x": self.x[idx], "mean": self.mean[idx], "ci95_lo": self.lo[idx],
                "ci95_hi": self.hi[idx], "q10": self.q_lo[idx], "q90": self.q_hi[idx],
                "replicas": self.replicas}


def downsample(k: int, n: int = 60, log: bool = True) -> np.ndarray:
    """At most ``n`` distinct indices of ``range(k)`` (log- or linearly spaced), with both ends."""
    if k <= n:
        return np.arange(k)
    raw = np.geomspace(1, k, n) - 1 if log else np.linspace(0, k - 1, n)
    return np.unique(np.concatenate([[0, k - 1], np.round(raw).astype(np.int64)]))


def summarize(values) -> dict:
    """Mean, SE, 95% CI and 10/90% quantiles of per-replica values."""
    v = np.asarray(values, dtype=np.float64).ravel()
    m = float(v.mean())
    se = float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else 0.0
    q = np.quantile(v, QUANTILES)
    return {"mean": m, "se": se, "ci95_lo": m - Z95 * se, "ci95_hi": m + Z95 * se,
            "q10": float(q[0]), "q90": float(q[1])}


# --- measurements -------------------------------------------------------------------------

def final_values(task: Task, method: Method, steps: int, replicas: int, seed: int,
                 metric: str = "grad_norm_sq", window: float = 0.1, points: int = 11
                 ) -> np.ndarray:
    """Per-replica ``metric`` averaged over ``points`` checkpoints in the last ``window``
    fraction of the horizon (``window=0``: the value at ``T`` alone).

    Returns
    -------
    ndarray, shape (replicas,)
    """
    if window > 0:
        cps = np.unique(np.round(np.linspace((1 - window) * steps, steps, points))
                        .astype(np.int64))
    else:
        cps = np.array([steps], dtype=np.int64)
    tr = cached_simulate(task, method, steps=steps, replicas=replicas, seed=seed,
                         checkpoints=cps, derived=metric == "avg_grad_norm_sq")
    return tr.metric(metric).mean(axis=0)


def start_eta(c: dict, eps: float, n_tasks: int) -> float:
    """Where a step-size search starts: ``min{1/L, 2 eps (N+1) / (L sigma_0^2)}``.

    It is the step at which WGA-NC's noise term ``L eta sigma^2 / (N+1)`` equals ``2 eps``
    (``c`` is a task's :meth:`constants`, ``n_tasks = N + 1``).
    """
    return float(min(1.0 / c["L"], 2 * eps * n_tasks / (c["L"] * c["sigma"][0] ** 2)))


def tuned_time_to_eps(task: Task, make_method: Callable[[float], Method], etas, eps: float,
                      steps: int, replicas: int, seed: int, metric: str = "grad_norm_sq",
                      start_eta: float | None = None) -> TimeToEps:
    """The claims' own ``T_eps`` (:func:`simlab.collab.measure.time_to_eps_tuned`, spec 8.3),
    with the figures' 95% intervals, a local step-size search from ``start_eta`` and shortened
    horizons once some step size reached ``eps``: the same quantity the verdicts judge."""
    return measure.time_to_eps_tuned(task, make_method, etas, eps, steps, replicas, seed, Z95,
                                     metric=metric, start_eta=start_eta, shorten=True)


# --- drawing ------------------------------------------------------------------------------

def new_axes(xlabel: str, ylabel: str, logx: bool = True, logy: bool = True,
             height: float = FIGSIZE[1]) -> tuple[Figure, Axes]:
    """A ``(fig, ax)`` pair of the standard width, with labels and log scales.

    Make ``height`` larger than the default 4.2 in when the legend goes below the axes
    (:func:`legend` with ``outside=True``).
    """
    fig, ax = plt.subplots(figsize=(FIGSIZE[0], height), layout="constrained")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.grid(True, which="major", alpha=0.3)
    return fig, ax


def plot_curve(ax: Axes, curve: Curve, label: str, color: str, quantiles: bool = True,
               marker: str | None = None, lw: float = 1.6) -> Line2D:
    """Draw the mean with its 95% CI band (darker) and 10-90% quantile band (lighter).

    On a log y-axis the lower band edges are clipped to a positive floor, so that a band that
    reaches 0 does not collapse the axis.
    """
    floor = _positive_floor(ax, curve)
    if quantiles:
        ax.fill_between(curve.x, _clip(curve.q_lo, floor), curve.q_hi, color=color, alpha=0.12,
                        lw=0)
    ax.fill_between(curve.x, _clip(curve.lo, floor), curve.hi, color=color, alpha=0.3, lw=0)
    return ax.plot(curve.x, curve.mean, color=color, lw=lw, label=label, marker=marker,
                   ms=4)[0]


def _positive_floor(ax, curve: Curve) -> float | None:
    if ax.get_yscale() != "log":
        return None
    pos = curve.mean[curve.mean > 0]
    return float(pos.min()) * 0.2 if pos.size else 1e-12


def _clip(v, floor):
    return v if floor is None else np.maximum(v, floor)


def band_legend(quantiles: bool = True) -> list[Patch]:
    """Proxy handles that say what the bands are (append them to a legend)."""
    h = [Patch(color="0.4", alpha=0.45, label="band: 95% CI of the mean")]
    if quantiles:
        h.append(Patch(color="0.4", alpha=0.15, label="light band: 10-90% of replicas"))
    return h


def legend(ax: Axes, extra: Sequence = (), bands: str = "both", outside: bool = False,
           **kw) -> Legend:
    """The axes' legend plus the band explanation, in a small font.

    ``bands``: ``"both"`` (95% CI and 10-90% bands), ``"ci"`` or ``"none"``. ``outside=True``
    puts the legend below the axes in two columns (give the figure more height).
    """
    if bands not in ("both", "ci", "none"):
        raise ValueError(f"bands must be 'both', 'ci' or 'none', got {bands!r}")
    handles, _ = ax.get_legend_handles_labels()
    handles = list(handles) + list(extra)
    if bands != "none":
        handles += band_legend(quantiles=bands == "both")
    kw.setdefault("fontsize", 7)
    kw.setdefault("framealpha", 0.85)
    if outside:
        kw.setdefault("ncol", 2)
        return ax.figure.legend(handles=handles, loc="outside lower center", **kw)
    return ax.legend(handles=handles, **kw)


def mark_unreached(ax: Axes, xs, color: str, label: str, y: float = 0.96) -> None:
    """Mark configurations that never reached the target: upward arrows at the top edge."""
    trans = ax.get_xaxis_transform()
    for i, x in enumerate(xs):
        ax.annotate("", xy=(x, y), xytext=(x, y - 0.09), xycoords=trans, textcoords=trans,
                    arrowprops=dict(arrowstyle="-|>", color=color, lw=1.5))
        ax.plot([x], [y - 0.09], marker="o", mfc="white", mec=color, ms=5, transform=trans,
                label=label if i == 0 else None, ls="none", clip_on=False)


# --- output -------------------------------------------------------------------------------

def save(fig: Figure, args: argparse.Namespace, name: str, title: str, params: dict, seeds: dict,
         curves: dict, summary: dict, notes: str = "") -> tuple[Path, Path]:
    """Write ``<out>/<name>.png`` and ``<out>/<name>.json`` and close the figure.

    Parameters
    ----------
    fig : matplotlib Figure
    args : argparse.Namespace
        From :func:`parse_args`.
    name : str
        File stem (the script's name).
    title : str
        The figure's title (the script docstring's first line).
    params : dict
        Task and method parameters.
    seeds : dict
        Every seed used (simulation and task instance).
    curves : dict
        The plotted numbers, one entry per curve (downsampled is fine).
    summary : dict
        Measured summaries (slopes, plateaus, argmins).
    notes : str
        What the bands and markers are, and anything a reader must know.

    Returns
    -------
    (Path, Path)
        The PNG and the sidecar.
    """
    png = args.out / f"{name}.png"
    side = args.out / f"{name}.json"
    fig.savefig(png, dpi=DPI)
    plt.close(fig)
    import numba

    meta = {
        "figure": name,
        "title": title,
        "command": " ".join(["python", f"figures/{name}.py"]
                            + [shlex.quote(a) for a in args.argv]),
        "argv": args.argv,
        "budget_name": args.budget_name,
        "budget": args.budget,
        "seeds": seeds,
        "params": params,
        "git_commit": git_commit(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "seconds": time.perf_counter() - args.t0,
        "versions": {"python": platform.python_version(), "numpy": np.__version__,
                     "numba": numba.__version__, "matplotlib": matplotlib.__version__},
        "notes": notes,
        "summary": summary,
        "curves": curves,
    }
    side.write_text(json.dumps(jsonable(meta), indent=1, allow_nan=False) + "\n")
    size = png.stat().st_size
    if size > MAX_PNG_BYTES:
        print(f"warning: {png} is {size} bytes (> {MAX_PNG_BYTES})", file=sys.stderr)
    if not getattr(args, "quiet", False):
        print(f"wrote {png} ({size // 1024} KB) and {side.name} in "
              f"{meta['seconds']:.1f} s")
    return png, side


def first_line(doc: str | None) -> str:
    """The first line of a docstring (a figure's title)."""
    return (doc or "").strip().splitlines()[0] if doc else ""
