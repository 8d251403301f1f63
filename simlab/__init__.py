"""simlab: checking papers on data-efficient learning by simulation."""

from simlab.engine.simulate import DivergenceError, simulate
from simlab.engine.trace import Trace

__version__ = "0.1.0"
__all__ = ["simulate", "Trace", "DivergenceError", "__version__"]
