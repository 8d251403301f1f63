"""The claims of the collab spec (section 8.3), registered in :data:`simlab.claims.registry`.

Importing this module registers them all: WGA claims in :mod:`simlab.collab.claims_wga`,
bias-correction claims, identities and floors in :mod:`simlab.collab.claims_bc`, and the
known findings (violated claims with their evidence) of :mod:`simlab.collab.findings`.

Each claim is declarative: a measurement (``measure(run) -> Measurement``), Bound objects of
:mod:`theory.collab` as its prediction, and a check spec with its false-failure budget
``delta`` and tolerance ``tol``; ``run.planted`` runs its planted error, which must turn it
``violated``.
"""

from simlab.collab import claims_bc, claims_wga, findings  # noqa: F401  (registration)
