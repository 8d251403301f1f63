"""Planted errors of the collab claims that are bugs of a method, as method classes.

A claim's planted error must be a realistic bug of the method, not an edit of the claim's own
grid (DESIGN.md). Most collab claims plant theirs through the method's own options (a wrong
step size, uncoupled samples, weights ignored); the ones here need a bug that no option
expresses. Each runs the production kernel (``ops_class``) with one hyperparameter wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from simlab.collab.methods import BCEMA


@dataclass(frozen=True)
class BCEMAFlippedCorrection(BCEMA):
    """BC-EMA whose correction enters the step with the wrong sign: ``x -= eta (G - m)``.

    The classic sign-convention slip (``m`` estimates ``g_0 - G``, the step subtracts it):
    the iterate is pushed twice as far along the bias instead of back from it.
    """

    label: ClassVar[str] = "BC-EMA (planted: correction sign flipped)"
    correction_sign: ClassVar[float] = -1.0

    @property
    def ops_class(self) -> type:
        """Compiled as BC-EMA."""
        return BCEMA
