"""The CUDA backend's adapter: the only module of simlab that imports ``numba.cuda``.

numba-cuda is in maintenance mode; everything the engine needs from it lives here, so a move to
its successor touches this file alone. The kernel factory (:mod:`simlab.engine.kernel`) takes
:data:`HEADER` and :data:`KERNEL` from here, and :func:`simlab.simulate` calls :func:`require`
before any work and :func:`launch` to run the composed kernel.

Execution model: one replica per GPU thread (``j = cuda.grid(1)``), the same ``run_replica``
loop as the CPU backends, so replica ``r`` draws the same numbers from the same
``(seed, r, source)`` streams. Notes for real GPUs:

* The ziggurat tables (``_KN``, ``_WN``, ``_FN``: module-global numpy arrays referenced by the
  device code) are captured by numba-cuda at compile time as constant arrays in the constant
  address space (``CUDATargetContext.make_constant_array``); the generator needs no change.
* ``uint64`` arithmetic (xoroshiro128+, splitmix64) wraps modulo 2**64 on the GPU as on the CPU.
* Basic slicing and integer indexing of device arrays inside kernels (``work[j]``, ``rngs[j]``,
  ``s[row]``, ``w[a:b]``, ``out[k, j]``) make views, as in CPU numba.
* NVVM contracts ``a * b + c`` into fused multiply-adds by default (``fastmath=False`` leaves
  ``-fma`` at its default), and libdevice's ``exp``/``log`` may differ from the CPU's libm in the
  last bit, so a real GPU agrees with the CPU within floating-point tolerance, not bit for bit.
  The CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``) runs the device code as Python on numpy
  scalars and reproduces the CPU trace.

Environment: a CUDA GPU with the ``cuda`` extra (``pip install 'simlab[cuda]'``), or the
simulator, which must be switched on (``NUMBA_ENABLE_CUDASIM=1``) before numba is imported.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

#: Module text that defines the device-function decorator ``JIT`` (see the kernel factory).
HEADER = "from numba import cuda\nJIT = cuda.jit(device=True)\n"

#: The kernel, one replica per thread; ``{args}`` is :data:`simlab.engine.kernel.KERNEL_ARGS`.
KERNEL = (
    "@cuda.jit(cache=True)\n"
    "def kernel({args}):\n"
    "    j = cuda.grid(1)\n"
    "    if j < replica_ids.shape[0]:\n"
    "        run_replica(j, {args})\n"
)

#: Threads per block of a launch (fewer when there are fewer replicas, in multiples of 32).
THREADS_PER_BLOCK = 128

_FIX = ("install the 'cuda' extra (pip install 'simlab[cuda]', which brings numba-cuda) on a "
        "machine with an NVIDIA GPU and driver, or set NUMBA_ENABLE_CUDASIM=1 in the environment "
        "before numba is imported to run the CUDA kernels on the CPU simulator")


def _cuda_module():
    """``numba.cuda``, or ``None`` when it cannot be imported."""
    try:
        from numba import cuda
    except Exception:  # noqa: BLE001 - any import failure means "no CUDA backend"
        return None
    return cuda


def is_simulator() -> bool:
    """True when numba runs CUDA kernels on the CPU simulator (``NUMBA_ENABLE_CUDASIM=1``)."""
    try:
        from numba import config
    except Exception:  # noqa: BLE001  # pragma: no cover - numba is a core dependency
        return False
    return bool(getattr(config, "ENABLE_CUDASIM", 0))


def is_available() -> bool:
    """True when ``backend="cuda"`` can run: a usable GPU, or the CUDA simulator."""
    cuda = _cuda_module()
    if cuda is None:
        return False
    try:
        return bool(cuda.is_available())
    except Exception:  # noqa: BLE001 - a broken driver or toolkit counts as unavailable
        return False


def require() -> None:
    """Raise ``RuntimeError`` naming the fix when the CUDA backend cannot run.

    Raises
    ------
    RuntimeError
        When numba-cuda is missing, or neither a GPU nor the simulator is present.
    """
    if is_available():
        return
    cuda = _cuda_module()
    if cuda is None:
        why = "numba.cuda cannot be imported (numba-cuda is not installed)"
    else:
        why = "numba-cuda finds no usable CUDA GPU"
    hint = ""
    if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0") and not is_simulator():
        hint = ("; NUMBA_ENABLE_CUDASIM is set but numba was imported before it was, so it has "
                "no effect in this process")
    raise RuntimeError(f"backend='cuda' is not available: {why}{hint}. To fix: {_FIX}.")


def _threads_per_block(n: int) -> int:
    return int(min(THREADS_PER_BLOCK, max(32, -(-n // 32) * 32)))


def launch(kernel, tdata, tmeta, hyper, seed, replica_ids, T, checkpoints, track,
           check_every, layout, out, work, rngs, status) -> None:
    """Run the composed CUDA ``kernel`` over all replicas; results land in the caller's arrays.

    Parameters are :data:`simlab.engine.kernel.KERNEL_ARGS`. The input arrays are copied to the
    device; after the kernel has finished, ``out``, ``work``, ``rngs`` and ``status`` (numpy
    arrays owned by the caller) are overwritten in place with the device's results.

    Raises
    ------
    RuntimeError
        When the CUDA backend is not available (see :func:`require`).
    """
    require()
    from numba import cuda

    n = int(replica_ids.shape[0])
    tpb = _threads_per_block(n)
    blocks = -(-n // tpb)
    dev = [cuda.to_device(np.ascontiguousarray(a))
           for a in (tdata, tmeta, hyper, replica_ids, checkpoints, track, layout, out, work,
                     rngs, status)]
    d_tdata, d_tmeta, d_hyper, d_ids, d_cps, d_track, d_layout, d_out, d_work, d_rngs, \
        d_status = dev
    args = (d_tdata, d_tmeta, d_hyper, np.uint64(seed), d_ids, np.int64(T), d_cps, d_track,
            np.int64(check_every), d_layout, d_out, d_work, d_rngs, d_status)
    if is_simulator():
        # The simulator runs the generator as Python on numpy uint64 scalars, whose intended
        # modulo-2**64 wrap-around numpy reports as an overflow (the numpy backend silences
        # the same warning with np.errstate, which does not reach the simulator's threads).
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "overflow encountered", RuntimeWarning)
            kernel[blocks, tpb](*args)
    else:
        kernel[blocks, tpb](*args)
    cuda.synchronize()
    for host, d_arr in ((out, d_out), (work, d_work), (rngs, d_rngs), (status, d_status)):
        host[...] = d_arr.copy_to_host()
