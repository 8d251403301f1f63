"""Shared settings and helpers of the subsample figures (F1-F5): tasks, step sizes, samplers.

Not a figure: ``simlab figures subsample`` runs every ``figures/subsample_*.py``, and running
this module only prints this line. The figure scripts import it beside
:mod:`_common` (the generic helpers: arguments, bands, sidecars).

Settings (spec 6.1; every choice is the spec's where it gives one, stated here where not)

* **S1**: :class:`simlab.tasks.LogisticStream` with ``d = 20``, window ``n = 100``, base rate
  5% (so that negative downsampling, which keeps every positive, fits the budget ``rho =
  0.1``), heavy-tailed rows (``row_sigma = 0.5``), no drift. **S1 (27%)** is the same at the
  base rate of the spec's section 6.3 pilot. **S2**: :class:`simlab.tasks.LinearStream` with
  ``d = 20``, ``n = 100`` and the spec's noise mixture ``N(0, 1)`` / ``N(0, 100)``.
* Every task starts from ``warm = 0.5`` times the truth: a deployed model being retrained
  (the streaming setting of spec 1.1), so the serving copy's record is informative from the
  first step.
* One constant SGD step per task for every sampler (spec 2.3): ``eta = 0.1`` on S1 and
  ``0.002`` on S2. They were chosen on the *uniform* baseline alone (its stationary excess
  loss is about a tenth of the warm start's) and checked stable for every sampler at 10x
  (S1: 30x); no water-filling run was used to choose them.
* ``rho = 0.1`` ("one backward from ten forward"), staleness ``Delta = 10`` (the serving copy
  is refreshed every 10 steps: "moderate staleness"), ``epsilon = 0.1`` (spec 2.4).
* Samplers that do not read the serving-time record (uniform, fresh water-filling, the
  oracle, negative downsampling, Katharopoulos-Fleuret, full) are run with ``refresh = 0``:
  ``Delta`` has no effect on them, and one run serves every ``Delta`` (and every figure,
  through the result store).
"""

from __future__ import annotations

import io
import math
from dataclasses import replace

import _common
import numpy as np
from _common import Z95, Curve, downsample, summarize  # noqa: F401 (re-exported)

from simlab.engine.model import Method, Task
from simlab.engine.simulate import DivergenceError, log_checkpoints
from simlab.subsample import (
    FreshWaterFill,
    Full,
    GradNormOracle,
    KatharopoulosFleuret,
    LossProportional,
    NegativeDownsampling,
    SelectiveBackprop,
    StreamSampler,
    TopK,
    Uniform,
    WaterFill,
)
from simlab.sweep.cache import cached_simulate
from simlab.tasks import LinearStream, LogisticStream

#: S1: imbalanced logistic regression, base rate 5%.
S1 = LogisticStream(d=20, window=100, base_rate=0.05, row_sigma=0.5, drift=0.0, warm=0.5,
                    n_test=2000, seed=0)
#: S1 at the spec 6.3 pilot's base rate (27%).
S1_27 = replace(S1, base_rate=0.27)
#: S2: linear regression with heavy-tailed (mixture) noise.
S2 = LinearStream(d=20, window=100, row_sigma=0.5, p_out=0.1, s_out=10.0, warm=0.5, seed=0)
#: The constant SGD step of every sampler, by task family.
ETA = {"S1": 0.1, "S2": 0.002}
RHO = 0.1
DELTA = 10
EPSILON = 0.1
#: The main samplers (``simlab.subsample.methods.MAIN``) by key.
MAIN = {"full": Full, "uniform": Uniform, "waterfill": WaterFill, "fresh": FreshWaterFill,
        "negdown": NegativeDownsampling, "sb": SelectiveBackprop, "topk": TopK,
        "kf": KatharopoulosFleuret}
#: Every sampler class a figure uses, by key.
SAMPLERS = {**MAIN, "lossprop": LossProportional, "oracle": GradNormOracle}
COLORS = {"full": "#4d4d4d", "uniform": "#1f77b4", "waterfill": "#d62728",
          "fresh": "#ff7f0e", "negdown": "#2ca02c", "sb": "#9467bd", "topk": "#8c564b",
          "kf": "#17becf", "lossprop": "#e377c2", "oracle": "#bcbd22"}
MARKERS = {"full": "s", "uniform": "o", "waterfill": "D", "fresh": "^", "negdown": "v",
           "sb": "P", "topk": "X", "kf": "*", "lossprop": "h", "oracle": "<"}


def task_name(task: Task) -> str:
    """``"S1 (5%)"``, ``"S1 (27%)"`` or ``"S2"``."""
    if task.family == "S1":
        return f"S1 ({100 * task.base_rate:g}%)"
    return task.family


def task_params(task: Task) -> dict:
    """A task's parameters for a sidecar."""
    return {"class": type(task).__name__,
            **{k: getattr(task, k) for k in task.__dataclass_fields__}}


def reads_record(cls: type) -> bool:
    """Whether a sampler scores instances by the serving-time record (so ``Delta`` matters)."""
    return cls.rule in ("waterfill", "selective_backprop", "top_k") and not getattr(
        cls, "fresh", False)


def label(key: str, **kw) -> str:
    """The sampler's label, with the non-default knobs that a figure varies."""
    text = SAMPLERS[key].label
    if "epsilon" in kw and key == "waterfill":
        text += f", eps = {kw['epsilon']:g}"
    return text


def feasible(key: str, task: Task, rho: float = RHO) -> bool:
    """Whether a sampler runs at ``rho`` on ``task``.

    Negative downsampling keeps every positive: it needs 0/1 labels and a base rate ``pi``
    below ``rho``, here with a margin: its negative keep rate ``r = (rho - pi) / (1 - pi)``
    must keep at least one negative per window on average (``r (1 - pi) n >= 1``). Without
    the margin ``rho = 0.05`` would pass at the base rate 5% by rounding (``pi = 0.05 -
    1e-16``), with ``r ~ 1e-16`` and negative weights ``1/r ~ 1e16``.
    """
    if key == "negdown":
        if not getattr(task, "binary", False):
            return False
        pi = task.constants()["base_rate"]
        return (rho - pi) * task.dims()["n"] >= 1.0
    return True


def make(key: str, task: Task, rho: float = RHO, delta: int = DELTA, eta_scale: float = 1.0,
         **kw) -> StreamSampler:
    """Sampler ``key`` on ``task`` with the figures' settings.

    Parameters
    ----------
    key : str
        A key of :data:`SAMPLERS`.
    task : Task
        S1 or S2 (sets the step size, :data:`ETA`).
    rho : float
        Backward fraction (``full`` ignores it).
    delta : int
        Staleness ``Delta``; samplers that do not read the record get ``refresh = 0``.
    eta_scale : float
        Multiplier of the task's step size.
    **kw
        Further knobs of the sampler (``epsilon``, ``weighting``, ...).

    Returns
    -------
    StreamSampler
    """
    cls = SAMPLERS[key]
    args = dict(step_size=ETA[task.family] * eta_scale,
                refresh=int(delta) if reads_record(cls) else 0, **kw)
    if key != "full":
        args["rho"] = rho
    return cls(**args)


def checkpoints(steps: int, n: int = 40) -> np.ndarray:
    """About ``n`` log-spaced checkpoints plus 11 evenly spaced over the last 10% of the
    horizon (the final-value window); the same in every figure, so runs are shared."""
    tail = np.round(np.linspace(0.9 * steps, steps, 11)).astype(np.int64)
    return np.union1d(log_checkpoints(steps, n), tail)


def run(task: Task, method: Method, steps: int, replicas: int, seed: int, cps=None):
    """``cached_simulate`` with :func:`checkpoints`; ``None`` when a replica diverged.

    Returns
    -------
    (Trace or None, str or None)
        The trace, and the divergence message when there is none.
    """
    cps = checkpoints(steps) if cps is None else cps
    try:
        return cached_simulate(task, method, steps=steps, replicas=replicas, seed=seed,
                               checkpoints=cps), None
    except DivergenceError as e:
        return None, str(e)


def excess(trace, task: Task) -> np.ndarray:
    """``test_loss - loss_floor`` per checkpoint and replica: the excess test loss (S1: the
    KL divergence from the truth's predictions on the test rows, >= 0; S2: exact)."""
    return trace.metric("test_loss") - task.constants()["loss_floor"]


def tail_mean(trace, values: np.ndarray, frac: float = 0.1) -> np.ndarray:
    """Per-replica mean of ``values[checkpoint, replica]`` over the checkpoints in the last
    ``frac`` of the horizon, shape ``(replicas,)``."""
    cps = trace.checkpoints
    keep = cps >= (1 - frac) * cps[-1]
    return np.asarray(values)[keep].mean(axis=0)


def paired_ratio(a, b) -> dict:
    """Ratio of the means of paired per-replica values, ``mean(a) / mean(b)``, with a 95%
    interval by the delta method (residuals ``a_i - r b_i``; the pairing removes the shared
    stream's noise).

    Returns
    -------
    dict
        ``ratio``, ``se``, ``ci95_lo``, ``ci95_hi``, ``replicas``.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    r = float(a.mean() / b.mean())
    se = float(np.std(a - r * b, ddof=1) / math.sqrt(a.size) / b.mean()) if a.size > 1 else 0.0
    return {"ratio": r, "se": se, "ci95_lo": r - Z95 * se, "ci95_hi": r + Z95 * se,
            "replicas": int(a.size)}


def reach(x, mean, target) -> float | None:
    """The first ``x`` at which the curve ``mean`` is at or below ``target``, interpolated
    log-log between checkpoints; ``None`` when it never is."""
    x = np.asarray(x, dtype=np.float64)
    m = np.asarray(mean, dtype=np.float64)
    hit = np.flatnonzero(m <= target)
    if hit.size == 0:
        return None
    j = int(hit[0])
    if j == 0 or not (x[j - 1] > 0 and m[j - 1] > 0 and m[j] > 0):
        return float(x[j])
    f = (math.log(m[j - 1]) - math.log(target)) / (math.log(m[j - 1]) - math.log(m[j]))
    return float(math.exp(math.log(x[j - 1]) + f * (math.log(x[j]) - math.log(x[j - 1]))))


def thin(curve: Curve, n: int = 30) -> Curve:
    """The curve at about ``n`` log-spaced of its points (for drawing: smaller PNGs)."""
    idx = downsample(len(curve.x), n, True)
    return Curve(curve.x[idx], curve.mean[idx], curve.lo[idx], curve.hi[idx],
                 curve.q_lo[idx], curve.q_hi[idx], curve.replicas)


def save(fig, args, name: str, title: str, **kw):
    """:func:`_common.save` with the PNG quantised to 256 colours (the multi-panel figures
    would exceed the 300 KB limit as full-colour PNGs; the palette loses nothing visible).

    Parameters
    ----------
    fig : matplotlib Figure
    args : argparse.Namespace
        From :func:`_common.parse_args`.
    name, title : str
        As for :func:`_common.save`.
    **kw
        ``params``, ``seeds``, ``curves``, ``summary``, ``notes``.

    Returns
    -------
    (Path, Path)
        The PNG and the sidecar.
    """
    full = fig.savefig

    def savefig(fname, **opts):
        from PIL import Image

        buf = io.BytesIO()
        full(buf, format="png", **opts)
        buf.seek(0)
        img = Image.open(buf).convert("RGB").quantize(colors=256,
                                                       method=Image.Quantize.MEDIANCUT)
        img.save(fname, format="PNG", optimize=True)

    fig.savefig = savefig
    return _common.save(fig, args, name, title, **kw)


def method_record(m: Method) -> str:
    """A sampler for a sidecar (its repr: every parameter)."""
    return repr(m)


if __name__ == "__main__":
    print("_subsample: shared settings of the subsample figures (not a figure)")
