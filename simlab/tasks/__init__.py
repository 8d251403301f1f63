"""Synthetic task families (collab spec 8.1).

* A: :class:`SharedHessianQuadratics` (delta = 0, exact zeta).
* B: :class:`HessianPerturbedQuadratics` (delta > 0, dense Hessians).
* C: :class:`BoundedNonconvex` (non-convex, independent zeta and delta knobs).
* D: :class:`LinearRegressionTasks` (multiplicative noise, covariate and concept shift).
* E: :class:`CorrelatedNoiseQuadratics` (family B with noise correlated with task 0's).

Streaming families (subsample spec 6.1; a window of instances per step, a serving copy):

* S1: :class:`LogisticStream` (imbalanced logistic regression, heavy-tailed rows, drift).
* S2: :class:`LinearStream` (linear regression with heavy-tailed noise, exact population
  metrics).
"""

from simlab.tasks.hessian_perturbed import CorrelatedNoiseQuadratics, HessianPerturbedQuadratics
from simlab.tasks.linear_stream import LinearStream
from simlab.tasks.logistic_stream import LogisticStream
from simlab.tasks.nonconvex import BoundedNonconvex
from simlab.tasks.regression import LinearRegressionTasks
from simlab.tasks.shared_hessian import SharedHessianQuadratics

__all__ = ["SharedHessianQuadratics", "HessianPerturbedQuadratics", "BoundedNonconvex",
           "LinearRegressionTasks", "CorrelatedNoiseQuadratics", "LogisticStream",
           "LinearStream"]
