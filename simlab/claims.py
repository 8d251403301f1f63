"""The claim registry: each claim ties one statement of a paper to a measurement.

A :class:`Claim` is declarative: the statement it checks (quoted from the spec, with its
provenance tag), a **measurement** (a function of a :class:`Run` that simulates and returns a
:class:`Measurement`: values along an axis, their statistics, and the prediction evaluated
there), the **prediction** (:class:`~theory.bound.Bound` objects of ``theory.<paper>``, checked
to be registered there when the claim registers; never a display string) and a **check spec**
(:class:`UpperBound`, :class:`LowerBound`, :class:`Agreement`, :class:`Within` or
:class:`Decide`) that judges the measurement. It also names the methods it runs (their
provenance goes into the report), its parameters, the replica budgets at which it must be
decisive, the ranges its property tests sample, and a *planted error*: a realistic bug in the
method that must turn the claim ``violated``.

The same claim object serves three uses: ``simlab verify`` runs it (:meth:`Claim.run`), the
property tests draw its parameters, and figures call :meth:`Claim.measure` so that a figure
never plots a different quantity than the verdict judged.

A measurement whose precondition fails raises :class:`Precondition` (through
:meth:`Run.require`): the verdict is ``inconclusive`` with the reason, not an ``assert``.

A claim that the simulation contradicts is a *finding*: it stays registered and ``violated``,
and :data:`KNOWN_FINDINGS` records its evidence (numbers and command), so the report shows it
and ``simlab verify`` does not fail on it.

Paper modules are discovered (:func:`load_all`): every ``simlab.<paper>.claims`` module.
Seeds derive from ``(claim id, example index)`` (:func:`claim_seed`), so any failing example
replays exactly.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import pkgutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from simlab.engine import stats
from simlab.engine.stats import HOLDS, INCONCLUSIVE, VIOLATED, Check

BUDGETS = ("quick", "full")
CHECK_KINDS = ("upper_bound", "lower_bound", "interval", "agreement", "slope", "speedup",
               "ordering", "identity")


def claim_seed(claim_id: str, index: int = 0) -> int:
    """A 32-bit seed derived from the claim id and the example index."""
    h = hashlib.sha256(f"{claim_id}#{index}".encode()).digest()
    return int.from_bytes(h[:4], "little")


class Precondition(Exception):
    """A measurement's precondition does not hold: the verdict is inconclusive, with why."""


# --- measurements ---------------------------------------------------------------------------

@dataclass
class Measurement:
    """What a claim measured.

    Attributes
    ----------
    x : ndarray
        Where (checkpoints, N, T, delta, ...), one entry per value.
    mean, se : ndarray
        The measured values and their standard errors (``se`` may be ``None`` when ``lo`` and
        ``hi`` give the intervals directly).
    z : float
        The critical value the intervals use (Bonferroni over what the check looks at).
    prediction : ndarray, optional
        The claim's prediction at each ``x`` (from its Bound objects).
    lo, hi : ndarray, optional
        Explicit interval ends (``mean -+ z se`` when not given).
    axis : str
        What ``x`` is.
    details : str
        What was measured where, in words.
    series : dict
        Further named arrays (per-method curves, fitted values) for figures and notebooks.
    """

    x: Any
    mean: Any
    se: Any = None
    z: float = 0.0
    prediction: Any = None
    lo: Any = None
    hi: Any = None
    axis: str = ""
    details: str = ""
    series: dict = field(default_factory=dict)

    def __post_init__(self):
        self.x = np.atleast_1d(np.asarray(self.x))
        self.mean = np.atleast_1d(np.asarray(self.mean, dtype=np.float64))
        if self.se is not None:
            self.se = np.atleast_1d(np.asarray(self.se, dtype=np.float64))
        for name in ("prediction", "lo", "hi"):
            v = getattr(self, name)
            if v is not None:
                setattr(self, name, np.broadcast_to(np.asarray(v, dtype=np.float64),
                                                    self.mean.shape).copy())

    def intervals(self) -> tuple[np.ndarray, np.ndarray]:
        """``(lo, hi)``: the explicit ends, else ``mean -+ z se``."""
        if self.lo is not None and self.hi is not None:
            return self.lo, self.hi
        se = np.zeros_like(self.mean) if self.se is None else self.se
        return self.mean - self.z * se, self.mean + self.z * se


# --- check specs ----------------------------------------------------------------------------

@dataclass(frozen=True)
class CheckSpec:
    """Base of the check specs: a kind, a false-failure budget and a relative tolerance.

    ``delta`` is the budget of the whole check; a measurement takes its critical value from
    :meth:`Run.z`, Bonferroni-corrected over the points it looks at.
    """

    delta: float = 0.01
    tol: float = 0.0
    kind: str = ""

    def judge(self, m: Measurement) -> Check:  # pragma: no cover - abstract
        """The verdict on a measurement."""
        raise NotImplementedError


def _need_prediction(m: Measurement, kind: str) -> np.ndarray:
    if m.prediction is None:
        raise ValueError(f"a {kind} check needs the measurement's prediction")
    return m.prediction


@dataclass(frozen=True)
class UpperBound(CheckSpec):
    """``E[X] <= prediction (1 + tol)`` at every point (DESIGN.md's rule)."""

    kind: str = "upper_bound"

    def judge(self, m: Measurement) -> Check:
        """Holds when ``mean + z SE <= bound (1 + tol)`` everywhere; violated when
        ``mean - z SE`` exceeds it somewhere."""
        return stats.upper_bound(m.mean, m.se, _need_prediction(m, self.kind), m.z, self.tol)


@dataclass(frozen=True)
class LowerBound(CheckSpec):
    """``E[X] >= prediction (1 - tol)`` at every point."""

    kind: str = "lower_bound"

    def judge(self, m: Measurement) -> Check:
        """The mirror of :class:`UpperBound`."""
        return stats.lower_bound(m.mean, m.se, _need_prediction(m, self.kind), m.z, self.tol)


@dataclass(frozen=True)
class Agreement(CheckSpec):
    """``E[X] == prediction`` at every point, within ``z SE + tol |prediction|``."""

    kind: str = "agreement"
    max_rel_se: float | None = None

    def judge(self, m: Measurement) -> Check:
        """Violated where the deviation exceeds the allowance; inconclusive when the Monte
        Carlo is not sharp enough (``SE > max_rel_se |prediction|``)."""
        return stats.agreement(m.mean, m.se, _need_prediction(m, self.kind), m.z, self.tol,
                               self.max_rel_se)


@dataclass(frozen=True)
class Within(CheckSpec):
    """Every value lies in ``[prediction + lo, prediction + hi]`` (or ``[lo, hi]`` when the
    measurement has no prediction), judged on its interval (:func:`stats.interval_check`)."""

    kind: str = "interval"
    lo: float | tuple = -np.inf
    hi: float | tuple = np.inf

    def judge(self, m: Measurement) -> Check:
        """The worst point: violated when its interval misses the range entirely.

        ``lo`` and ``hi`` may be one number or one per point.
        """
        lo_ci, hi_ci = m.intervals()
        base = m.prediction if m.prediction is not None else np.zeros_like(m.mean)
        lo = np.broadcast_to(np.asarray(self.lo, dtype=np.float64), m.mean.shape)
        hi = np.broadcast_to(np.asarray(self.hi, dtype=np.float64), m.mean.shape)
        checks = []
        for i in range(m.mean.size):
            c = stats.interval_check(m.mean[i], lo_ci[i], hi_ci[i], base[i] + lo[i],
                                     base[i] + hi[i])
            checks.append(Check(c.verdict, c.measured, c.interval, c.theory, c.margin, i))
        return stats.worst(checks)


@dataclass(frozen=True)
class Decide(CheckSpec):
    """A statement that is not one inequality (an ordering, a fit, an identity): ``judge``
    decides from the measurement's intervals, by the same rule: *holds* when the whole
    confidence region satisfies the statement, *violated* when it contradicts it."""

    kind: str = "ordering"
    rule: Callable | None = None

    def judge(self, m: Measurement) -> Check:
        """``rule(m, self)``."""
        if self.rule is None:
            raise ValueError("a Decide check needs a rule")
        return self.rule(m, self)


# --- verdicts -------------------------------------------------------------------------------

@dataclass
class Verdict:
    """The outcome of running a claim.

    Attributes
    ----------
    id : str
    verdict : {"holds", "violated", "inconclusive"}
    measured, theory : float
        The measured value and the bound/prediction at the decisive point.
    interval : (float, float)
        Confidence interval of the measured value.
    margin : float
        Relative slack (positive when the statement holds with room).
    details : str
        What was measured where, in words (or why it is inconclusive).
    bounds : list of str
        The prediction's Bound objects, ``"NAME (provenance)"``.
    methods : list of str
        The methods run, ``"NAME [provenance]"``.
    known_finding : str or None
        The recorded evidence when this claim is a known finding.
    planted : bool
        Whether the claim ran with its planted error.
    """

    id: str
    verdict: str
    measured: float
    interval: tuple
    theory: float
    margin: float
    details: str = ""
    provenance: str = ""
    check: str = ""
    budget: str = "quick"
    params: dict = field(default_factory=dict)
    planted: bool = False
    seed: int = 0
    seconds: float = 0.0
    bounds: list = field(default_factory=list)
    methods: list = field(default_factory=list)
    known_finding: str | None = None

    @classmethod
    def from_check(cls, claim: Claim, c: Check, details: str = "", **kw) -> Verdict:
        """Build from a :class:`~simlab.engine.stats.Check`."""
        return cls(id=claim.id, verdict=c.verdict, measured=c.measured,
                   interval=tuple(c.interval), theory=c.theory, margin=c.margin,
                   details=details, provenance=claim.provenance, check=claim.check.kind,
                   bounds=claim.bound_labels, methods=claim.method_labels, **kw)

    def to_dict(self) -> dict:
        """JSON-ready dict (non-finite numbers as strings, see :mod:`simlab.meta`)."""
        from simlab.meta import jsonable

        d = asdict(self)
        d["interval"] = list(self.interval)
        return jsonable(d)

    @property
    def ok(self) -> bool:
        """Not violated, or violated as a recorded known finding."""
        return self.verdict != VIOLATED or self.known_finding is not None


# --- claims ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Run:
    """What a claim's measurement is given: its parameters, budget, seed and switches.

    Attributes
    ----------
    claim : Claim
    params, budget : dict
    seed : int
    planted : bool
        Run the claim's planted error.
    backend : str
    delta : float
        The false-failure budget (the check's, unless overridden).
    """

    claim: Claim
    params: dict
    budget: dict
    seed: int
    planted: bool = False
    backend: str = "numba"
    delta: float = 0.01

    def z(self, n: int = 1, two_sided: bool = False) -> float:
        """The critical value for the budget ``delta`` over ``n`` quantities."""
        return stats.z_value(self.delta, max(int(n), 1), two_sided)

    def require(self, condition: bool, reason: str) -> None:
        """Stop the measurement as inconclusive (naming ``reason``) unless ``condition``."""
        if not condition:
            raise Precondition(reason)

    @property
    def bound(self):
        """The claim's first Bound (the prediction)."""
        return self.claim.bounds[0]


@dataclass
class Claim:
    """One checkable statement of a paper (see the module docstring).

    Parameters
    ----------
    id : str
        ``"<paper>.<name>"``, e.g. ``"collab.P1"``.
    title, statement : str
        The statement as the spec words it.
    provenance : str
        The spec's tag(s): ``[D]``, ``[V]``, ``[V-3P]``, ``[UNVERIFIED]``, ...
    measure : callable
        ``measure(run: Run) -> Measurement``.
    check : CheckSpec
    bounds : tuple of Bound
        The prediction: Bound objects registered in ``theory.<paper>.BOUNDS``.
    methods : tuple of type
        The method classes the claim runs (their ``label`` and ``provenance`` are reported).
    params : dict
        Default parameters.
    budgets : dict
        ``{"quick": {...}, "full": {...}}`` (replicas, steps, ...); the quick budget is the one
        at which the claim must be decisive.
    planted_error : str
        The realistic bug that must turn the claim violated.
    family : str
    ranges : dict
        Parameter ranges of the default-tier property tests: ``name -> ("choice", values) |
        ("float", lo, hi) | ("logfloat", lo, hi) | ("int", lo, hi)``.
    spec_ranges : dict
        The spec's full ranges, sampled by the ``slow`` tier (same form).
    """

    id: str
    title: str
    statement: str
    provenance: str
    measure: Callable
    check: CheckSpec
    bounds: tuple
    methods: tuple
    params: dict
    budgets: dict
    planted_error: str
    family: str = ""
    ranges: dict = field(default_factory=dict)
    spec_ranges: dict = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.check, CheckSpec):
            raise TypeError(f"{self.id}: check must be a CheckSpec, got "
                            f"{type(self.check).__name__}")
        if self.check.kind not in CHECK_KINDS:
            raise ValueError(f"{self.id}: check kind must be one of {CHECK_KINDS}, got "
                             f"{self.check.kind!r}")
        missing = [b for b in BUDGETS if b not in self.budgets]
        if missing:
            raise ValueError(f"{self.id}: budgets missing {missing}")
        for name, rng in (("ranges", self.ranges), ("spec_ranges", self.spec_ranges)):
            unknown = [k for k in rng if k not in self.params]
            if unknown:
                raise ValueError(f"{self.id}: {name} name unknown parameters {unknown}")
        if not self.bounds:
            raise ValueError(f"{self.id}: a claim needs its prediction (a Bound of "
                             f"theory.{self.paper})")
        if not self.methods:
            raise ValueError(f"{self.id}: a claim names the methods it runs")

    @property
    def paper(self) -> str:
        """The paper's short name (the id's prefix)."""
        return self.id.split(".")[0]

    @property
    def bound_labels(self) -> list[str]:
        """``"NAME (provenance)"`` of each Bound of the prediction."""
        return [b.label() for b in self.bounds]

    @property
    def method_labels(self) -> list[str]:
        """``"LABEL [provenance]"`` of each method run."""
        return [f"{m.label} [{m.provenance or '?'}]" for m in self.methods]

    def context(self, budget: str | dict = "quick", params: dict | None = None,
                seed: int | None = None, planted: bool = False, backend: str = "numba",
                example: int = 0, delta: float | None = None) -> Run:
        """The :class:`Run` that :meth:`run` measures (figures call :meth:`measure` with it).

        Raises
        ------
        ValueError
            An unknown budget name or parameter.
        """
        if isinstance(budget, str):
            if budget not in self.budgets:
                raise ValueError(f"budget must be one of {tuple(self.budgets)}, got "
                                 f"{budget!r}")
            b = dict(self.budgets[budget])
        else:
            b = {**self.budgets["quick"], **budget}
        p = dict(self.params)
        for k, v in (params or {}).items():
            if k not in p:
                raise ValueError(f"{self.id}: unknown parameter {k!r}; known: {sorted(p)}")
            p[k] = v
        s = claim_seed(self.id, example) if seed is None else int(seed)
        if delta is not None and not 0 < delta < 1:
            raise ValueError(f"delta must be in (0, 1), got {delta}")
        return Run(self, p, b, s, bool(planted), backend,
                   self.check.delta if delta is None else float(delta))

    def run(self, budget: str | dict = "quick", params: dict | None = None,
            seed: int | None = None, planted: bool = False, backend: str = "numba",
            example: int = 0, delta: float | None = None) -> Verdict:
        """Measure and judge the claim; return its :class:`Verdict`.

        Parameters
        ----------
        budget : {"quick", "full"} or dict
            A named budget or explicit overrides of the quick one.
        params : dict, optional
            Overrides of the default parameters (unknown names raise ``ValueError``).
        seed : int, optional
            Simulation seed; default :func:`claim_seed` of ``(id, example)``.
        planted : bool
            Run with the planted error.
        backend : str
            Engine backend.
        example : int
            Example index for the default seed.
        delta : float, optional
            Another false-failure budget than the check's (property tests that run many
            examples take a smaller one, so their false failures stay rare in all).
        """
        ctx = self.context(budget, params, seed, planted, backend, example, delta)
        bname = budget if isinstance(budget, str) else "custom"
        t0 = time.perf_counter()
        try:
            m = self.measure(ctx)
            spec = self.check if ctx.delta == self.check.delta else replace(self.check,
                                                                             delta=ctx.delta)
            check, details = spec.judge(m), m.details
        except Precondition as e:
            check = Check(INCONCLUSIVE, float("nan"), (float("nan"), float("nan")),
                          float("nan"), float("nan"))
            details = f"precondition not met: {e}"
        v = Verdict.from_check(self, check, details, budget=bname, params=ctx.params,
                               planted=ctx.planted, seed=ctx.seed,
                               seconds=time.perf_counter() - t0)
        if v.verdict == VIOLATED and not planted and self.id in KNOWN_FINDINGS:
            v.known_finding = KNOWN_FINDINGS[self.id]
        return v


class Registry(dict):
    """``id -> Claim``, filled by the paper modules on import (:func:`load_all`)."""

    def register(self, claim: Claim) -> Claim:
        """Add a claim; ids are unique and its Bounds must be registered in its paper's
        ``theory`` module."""
        if claim.id in self:
            raise ValueError(f"claim {claim.id} is already registered")
        try:
            bounds = importlib.import_module(f"theory.{claim.paper}").BOUNDS
        except (ImportError, AttributeError) as e:
            raise ValueError(f"{claim.id}: theory.{claim.paper} has no BOUNDS ({e})") from None
        for b in claim.bounds:
            if bounds.get(getattr(b, "name", None)) is not b:
                raise ValueError(f"{claim.id}: its prediction {b!r} is not a Bound registered "
                                 f"in theory.{claim.paper}.BOUNDS")
        self[claim.id] = claim
        return claim

    def ordered(self) -> list[Claim]:
        """All claims, by paper and then by natural order of the id (P2 before P10)."""
        import re

        def key(c: Claim):
            return [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", c.id)]

        return sorted(self.values(), key=key)

    def for_paper(self, paper: str) -> list[Claim]:
        """The claims of one paper, in natural id order."""
        return [c for c in self.ordered() if c.paper == paper]

    @property
    def papers(self) -> list[str]:
        """Papers with registered claims."""
        return sorted({c.paper for c in self.values()})

    def resolve(self, name: str) -> Claim:
        """A claim by id, or by its name within the paper when that is unambiguous
        (``P1`` for ``collab.P1``).

        Raises
        ------
        KeyError
            Unknown or ambiguous, naming the registered ids.
        """
        if dict.__contains__(self, name):
            return dict.__getitem__(self, name)
        hits = [c for c in self.values() if c.id.split(".", 1)[1] == name]
        if len(hits) == 1:
            return hits[0]
        why = "ambiguous" if hits else "unknown"
        raise KeyError(f"{why} claim {name!r}; registered: {[c.id for c in self.ordered()]}")


registry = Registry()

#: Known findings: claim id -> evidence (numbers and the command that shows them).
KNOWN_FINDINGS: dict[str, str] = {}


def paper_modules() -> list[str]:
    """The claim modules of the paper packages: every ``simlab.<paper>.claims``."""
    import simlab

    out = []
    for info in pkgutil.iter_modules(simlab.__path__):
        if info.ispkg and importlib.util.find_spec(f"simlab.{info.name}.claims") is not None:
            out.append(f"simlab.{info.name}.claims")
    return sorted(out)


def load_all() -> Registry:
    """Import every paper's claim module (discovered) so that the registry is complete."""
    for mod in paper_modules():
        importlib.import_module(mod)
    return registry


__all__ = ["Claim", "Run", "Measurement", "Verdict", "Registry", "registry", "KNOWN_FINDINGS",
           "claim_seed", "load_all", "paper_modules", "Precondition", "CheckSpec",
           "UpperBound", "LowerBound", "Agreement", "Within", "Decide", "HOLDS", "VIOLATED",
           "INCONCLUSIVE"]


def _registry_missing(self, key):
    load_all()
    if dict.__contains__(self, key):
        return dict.__getitem__(self, key)
    raise KeyError(f"no claim {key!r}; registered: {sorted(self)}")


Registry.__missing__ = _registry_missing
