"""Known findings of the Cluster-Margin paper: claims the simulation contradicts, with evidence.

Each entry stays registered and ``violated``; :data:`simlab.claims.KNOWN_FINDINGS` carries the
evidence (the numbers and the command that shows them), so ``simlab verify`` reports it
without failing. Numbers are those of the quick budget (``simlab verify --paper active``).
"""

from __future__ import annotations

from simlab.claims import KNOWN_FINDINGS

FINDINGS: dict[str, str] = {}

KNOWN_FINDINGS.update(FINDINGS)
