"""The claim registry: each claim ties one statement of a paper to a measurement.

A :class:`Claim` names the statement it checks (quoted from the spec, with its provenance tag),
the kind of check, its parameters and the replica budgets at which it must be decisive, and a
*planted error*: a deliberate mistake in the simulation (WGA ignoring its weights, a doubled
step size, ...) that must turn the claim ``violated``. Running a claim returns a
:class:`Verdict`.

A claim that the simulation contradicts is a *finding*: it stays registered and ``violated``,
and :data:`KNOWN_FINDINGS` records its evidence (numbers and command), so the report shows it
and ``simlab verify`` does not fail on it.

Seeds derive from ``(claim id, example index)`` (:func:`claim_seed`), so any failing example
replays exactly.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from simlab.engine.stats import HOLDS, INCONCLUSIVE, VIOLATED, Check

BUDGETS = ("quick", "full")
CHECK_KINDS = ("upper_bound", "lower_bound", "interval", "agreement", "slope", "speedup",
               "ordering", "identity")


def claim_seed(claim_id: str, index: int = 0) -> int:
    """A 32-bit seed derived from the claim id and the example index."""
    h = hashlib.sha256(f"{claim_id}#{index}".encode()).digest()
    return int.from_bytes(h[:4], "little")


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
        What was measured where, in words.
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
    known_finding: str | None = None

    @classmethod
    def from_check(cls, claim: Claim, c: Check, details: str = "", **kw) -> Verdict:
        """Build from a :class:`~simlab.engine.stats.Check`."""
        return cls(id=claim.id, verdict=c.verdict, measured=c.measured,
                   interval=tuple(c.interval), theory=c.theory, margin=c.margin,
                   details=details, provenance=claim.provenance, check=claim.check, **kw)

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        d = asdict(self)
        d["interval"] = list(self.interval)
        return d

    @property
    def ok(self) -> bool:
        """Not violated, or violated as a recorded known finding."""
        return self.verdict != VIOLATED or self.known_finding is not None


@dataclass
class Claim:
    """One checkable statement of a paper.

    Parameters
    ----------
    id : str
        ``"<paper>.<name>"``, e.g. ``"collab.P1"``.
    title : str
    statement : str
        The statement, as the spec words it.
    provenance : str
        The spec's tag(s): ``[D]``, ``[V]``, ``[V-3P]``, ``[UNVERIFIED]``, ...
    check : str
        One of :data:`CHECK_KINDS`.
    fn : callable
        ``fn(params, budget_dict, seed, planted, backend) -> (Check, details)``.
    params : dict
        Default parameters.
    budgets : dict
        ``{"quick": {...}, "full": {...}}`` (replicas, steps, ...).
    planted_error : str
        What the planted error does.
    bound : str
        Name of the bound in ``theory.<paper>``, if any.
    ranges : dict
        Parameter ranges for property tests (spec 8.3, shrunk to the default test tier):
        ``name -> ("choice", values) | ("float", lo, hi) | ("logfloat", lo, hi) |
        ("int", lo, hi)``.
    """

    id: str
    title: str
    statement: str
    provenance: str
    check: str
    fn: Callable
    params: dict
    budgets: dict
    planted_error: str
    bound: str = ""
    family: str = ""
    methods: tuple = ()
    ranges: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.check not in CHECK_KINDS:
            raise ValueError(f"check must be one of {CHECK_KINDS}, got {self.check!r}")
        missing = [b for b in BUDGETS if b not in self.budgets]
        if missing:
            raise ValueError(f"{self.id}: budgets missing {missing}")
        unknown = [k for k in self.ranges if k not in self.params]
        if unknown:
            raise ValueError(f"{self.id}: ranges name unknown parameters {unknown}")

    @property
    def paper(self) -> str:
        """The paper's short name (the id's prefix)."""
        return self.id.split(".")[0]

    def run(self, budget: str = "quick", params: dict | None = None, seed: int | None = None,
            planted: bool = False, backend: str = "numba", example: int = 0) -> Verdict:
        """Run the claim and return its :class:`Verdict`.

        Parameters
        ----------
        budget : {"quick", "full"} or dict
            A named budget or explicit overrides of it.
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
        """
        if isinstance(budget, str):
            if budget not in self.budgets:
                raise ValueError(f"budget must be one of {tuple(self.budgets)}, got "
                                 f"{budget!r}")
            b, bname = dict(self.budgets[budget]), budget
        else:
            b, bname = {**self.budgets["quick"], **budget}, "custom"
        p = dict(self.params)
        for k, v in (params or {}).items():
            if k not in p:
                raise ValueError(f"{self.id}: unknown parameter {k!r}; known: {sorted(p)}")
            p[k] = v
        s = claim_seed(self.id, example) if seed is None else int(seed)
        t0 = time.perf_counter()
        check, details = self.fn(p, b, s, planted, backend)
        v = Verdict.from_check(self, check, details, budget=bname, params=p, planted=planted,
                               seed=s, seconds=time.perf_counter() - t0)
        if v.verdict == VIOLATED and not planted and self.id in KNOWN_FINDINGS:
            v.known_finding = KNOWN_FINDINGS[self.id]
        return v


class Registry(dict):
    """``id -> Claim``, filled by the paper modules on import (:func:`load_all`)."""

    def register(self, claim: Claim) -> Claim:
        """Add a claim; ids are unique."""
        if claim.id in self:
            raise ValueError(f"claim {claim.id} is already registered")
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


registry = Registry()

#: Known findings: claim id -> evidence (numbers and the command that shows them).
KNOWN_FINDINGS: dict[str, str] = {}

PAPER_MODULES = {"collab": "simlab.collab.claims"}


def load_all() -> Registry:
    """Import every paper's claim module so that the registry is complete."""
    import importlib

    for mod in PAPER_MODULES.values():
        importlib.import_module(mod)
    return registry


__all__ = ["Claim", "Verdict", "Registry", "registry", "KNOWN_FINDINGS", "claim_seed",
           "load_all", "HOLDS", "VIOLATED", "INCONCLUSIVE"]


def _registry_missing(self, key):
    load_all()
    if dict.__contains__(self, key):
        return dict.__getitem__(self, key)
    raise KeyError(f"no claim {key!r}; registered: {sorted(self)}")


Registry.__missing__ = _registry_missing
