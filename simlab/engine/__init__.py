"""The Monte Carlo engine: random streams, kernels, simulate(), traces and statistics."""
