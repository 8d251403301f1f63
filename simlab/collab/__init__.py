"""Personalized collaborative learning (Chayti et al., arXiv 2111.05968; TMLR follow-up)."""

from simlab.collab.methods import BCEMA, BCMVR, BCSNAP, WGA, AuxMOM, AuxMVR, SGDAlone

BiasCorrection = BCEMA

__all__ = ["SGDAlone", "WGA", "BCEMA", "BCMVR", "BCSNAP", "AuxMOM", "AuxMVR", "BiasCorrection"]
