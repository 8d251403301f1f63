"""Claims P1 to P16 of the collab spec (section 8.3), registered in :data:`simlab.claims.registry`.

Importing this module registers them all: WGA claims in :mod:`simlab.collab.claims_wga`,
bias-correction claims, identities and floors in :mod:`simlab.collab.claims_bc`.

Each claim function takes ``(params, budget, seed, planted, backend)`` and returns
``(Check, details)``; ``planted=True`` runs the claim's planted error, which must turn it
``violated``. Statistical settings are declared per claim: ``delta`` (false-failure budget,
Bonferroni-corrected over what the check looks at) and ``tol`` (relative tolerance).
"""

from simlab.collab import claims_bc, claims_wga  # noqa: F401  (registration side effects)
