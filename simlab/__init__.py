"""simlab: checking papers on data-efficient learning by simulation."""

from simlab import sweep  # noqa: F401  (a callable package: simlab.sweep(...))
from simlab.engine.simulate import DivergenceError, simulate
from simlab.engine.trace import Trace

__version__ = "0.1.0"
__all__ = ["simulate", "Trace", "DivergenceError", "__version__"]
