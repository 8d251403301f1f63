"""Synthetic task families (collab spec 8.1)."""

from simlab.tasks.shared_hessian import SharedHessianQuadratics

__all__ = ["SharedHessianQuadratics"]
