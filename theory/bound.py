"""``Bound``: a sympy expression with its symbols, assumptions and provenance.

Provenance is one of

* ``"paper"``: stated in the paper (give the theorem number in ``source``);
* ``"derived"``: derived for simlab; the derivation is in the docstring/``source`` and a
  symbolic test checks it. Never present a derived bound as the paper's;
* ``"reconstructed"``: the paper's form is not yet confirmed.

A bound evaluates itself with numpy (:meth:`Bound.__call__`), gives its rate in any symbol
(:meth:`Bound.rate`), solves for the value of a symbol that reaches a target
(:meth:`Bound.solve_for`) and prints LaTeX (:meth:`Bound.latex`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import sympy as sp
from scipy import optimize

PROVENANCES = ("paper", "derived", "reconstructed")


@dataclass(frozen=True)
class Bound:
    """A bound or prediction as a sympy expression.

    Parameters
    ----------
    name : str
        Short identifier (``"WGA-NC"``).
    expr : sympy.Expr
        The bound's right-hand side.
    provenance : {"paper", "derived", "reconstructed"}
    source : str
        Where it comes from (``"collab spec 4.1 [D]"``) and, for derived bounds, the gist of the
        derivation.
    assumptions : tuple of sympy relations
        Conditions under which it holds (``eta <= 1/L``).
    statement : str
        What is bounded, in words (``"(1/T) sum E||grad f_0(x_t)||^2 <="``).
    kind : {"bound", "prediction", "scaling"}
        ``bound``: an inequality to check; ``prediction``: an exact value; ``scaling``: only the
        shape holds (constants unknown).
    """

    name: str
    expr: sp.Expr
    provenance: str
    source: str
    assumptions: tuple = ()
    statement: str = ""
    kind: str = "bound"
    notes: str = field(default="", compare=False)

    def __post_init__(self):
        if self.provenance not in PROVENANCES:
            raise ValueError(f"provenance must be one of {PROVENANCES}, got "
                             f"{self.provenance!r}")
        if self.kind not in ("bound", "prediction", "scaling"):
            raise ValueError(f"kind must be 'bound', 'prediction' or 'scaling', got "
                             f"{self.kind!r}")

    @cached_property
    def symbols(self) -> tuple[sp.Symbol, ...]:
        """Free symbols of the expression, sorted by name."""
        return tuple(sorted(self.expr.free_symbols, key=lambda s: s.name))

    @cached_property
    def _fn(self):
        return sp.lambdify(self.symbols, self.expr, modules="numpy")

    def __call__(self, **values):
        """Evaluate with numpy; every symbol must be given by name (arrays broadcast).

        Extra keywords are ignored, so ``bound(**task.constants(), eta=..., T=...)`` works.
        """
        missing = [s.name for s in self.symbols if s.name not in values]
        if missing:
            raise TypeError(f"{self.name}: missing values for {missing}")
        args = [np.asarray(values[s.name], dtype=np.float64) for s in self.symbols]
        return self._fn(*args)

    def check_assumptions(self, **values) -> list[str]:
        """The assumptions that the given values violate (as strings)."""
        bad = []
        for rel in self.assumptions:
            sub = {s: values[s.name] for s in rel.free_symbols if s.name in values}
            val = rel.subs(sub)
            if val is sp.false or (val is not sp.true and not bool(val)):
                bad.append(str(rel))
        return bad

    def symbol(self, name: str) -> sp.Symbol:
        """The free symbol called ``name``."""
        for s in self.symbols:
            if s.name == name:
                return s
        raise KeyError(f"{self.name} has no symbol {name!r}; it has "
                       f"{[s.name for s in self.symbols]}")

    def rate(self, name: str) -> sp.Expr:
        """Leading exponent of ``name`` as it grows, ignoring any constant floor.

        The floor ``lim_{x -> oo} expr`` is removed first, so WGA-NC's rate in ``T`` at fixed
        ``eta`` is ``-1`` (before the ``zeta`` floor).
        """
        x = self.symbol(name)
        floor = sp.limit(self.expr, x, sp.oo)
        part = sp.simplify(self.expr - floor) if floor.is_finite else self.expr
        if part == 0:
            return sp.Integer(0)
        return sp.simplify(sp.limit(sp.log(sp.Abs(part)) / sp.log(x), x, sp.oo))

    def solve_for(self, name: str, target: float, lo: float = 1.0, hi: float = 1e15,
                  **values) -> float:
        """Smallest value of ``name`` in ``[lo, hi]`` with ``expr <= target`` (others fixed).

        Assumes the expression is non-increasing in ``name`` there. Returns ``inf`` when the
        target is below the expression at ``hi`` (e.g. below a bias floor).
        """
        def f(v):
            return float(self(**{**values, name: v})) - target

        if f(lo) <= 0:
            return lo
        if f(hi) > 0:
            return float("inf")
        root = optimize.brentq(lambda u: f(np.exp(u)), np.log(lo), np.log(hi), xtol=1e-12)
        return float(np.exp(root))

    def latex(self) -> str:
        """LaTeX of the expression."""
        return sp.latex(self.expr)

    def label(self) -> str:
        """Legend label with provenance, for figures."""
        return f"{self.name} ({self.provenance})"

    def __repr__(self) -> str:
        return f"Bound({self.name!r}, {self.expr}, provenance={self.provenance!r})"
