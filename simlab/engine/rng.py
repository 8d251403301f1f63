"""Per-replica random streams: xoroshiro128+ seeded by splitmix64, with a ziggurat normal.

The generator is written once, in the subset of Python that numba compiles for the CPU and for
CUDA; the kernel factory (:mod:`simlab.engine.kernel`) emits it into each backend's module.
This module imports nothing of the engine; :func:`simlab.engine.draws.draw_normals` gives its
exact draws compiled.
Because every stream is keyed by ``(seed, replica, source)`` and never shared, a replica's draws
do not depend on the thread count, on how many replicas run beside it, or on the backend.

* State: two ``uint64`` words per stream (``s[0]``, ``s[1]``), updated in place by
  :func:`next_u64`, :func:`uniform` and :func:`normal`. Hot loops should load the two words
  into locals, draw with :func:`normal_state` (same draws, the state passed and returned as
  values, so it stays in registers) and store them back after the loop: in the CPU kernels
  that is about twice as fast per draw as a memory round trip each time.
* Seeding: ``splitmix64`` hashes ``seed``, then the replica index, then the source index, and
  expands the key into the two state words (Vigna's recommended seeding for xoroshiro).
* Normal draws: Marsaglia and Tsang's 128-layer ziggurat (J. Stat. Softw. 5(8), 2000). The
  layer index and the signed 32-bit value come from disjoint bits of one 64-bit output (bits
  8..14 and 32..63), which avoids the layer/value correlation of the original 32-bit version.
"""

from __future__ import annotations

import math

import numpy as np

_M1 = 2147483648.0  # 2**31
_R = 3.442619855899  # right end of the base strip


def ziggurat_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the ziggurat tables ``(kn, wn, fn)`` for 128 layers (Marsaglia and Tsang 2000).

    Returns
    -------
    kn : ndarray of int64, shape (128,)
        Acceptance thresholds on the signed 32-bit value.
    wn : ndarray of float64, shape (128,)
        Layer widths divided by 2**31 (value scale).
    fn : ndarray of float64, shape (128,)
        Density ``exp(-x**2/2)`` at the layer edges.
    """
    kn = np.zeros(128, dtype=np.int64)
    wn = np.zeros(128, dtype=np.float64)
    fn = np.zeros(128, dtype=np.float64)
    dn = _R
    tn = dn
    vn = 9.91256303526217e-3
    q = vn / math.exp(-0.5 * dn * dn)
    kn[0] = int((dn / q) * _M1)
    kn[1] = 0
    wn[0] = q / _M1
    wn[127] = dn / _M1
    fn[0] = 1.0
    fn[127] = math.exp(-0.5 * dn * dn)
    for i in range(126, 0, -1):
        dn = math.sqrt(-2.0 * math.log(vn / dn + math.exp(-0.5 * dn * dn)))
        kn[i + 1] = int((dn / tn) * _M1)
        tn = dn
        fn[i] = math.exp(-0.5 * dn * dn)
        wn[i] = dn / _M1
    return kn, wn, fn


KN, WN, FN = ziggurat_tables()


# The functions below are plain Python. The kernel factory (simlab.engine.kernel) copies their
# source into one generated module per backend and decorates them there; called directly they
# run as the pure-Python reference (numpy scalars; uint64 overflow wraps as intended).
_KN, _WN, _FN = KN, WN, FN


def splitmix(z):
    """One splitmix64 step: a bijective 64-bit mixer (Steele, Lea and Flood 2014)."""
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def stream_key(seed, replica, source):
    """The 64-bit key of the stream ``(seed, replica, source)`` (the state is derived from it)."""
    key = splitmix(np.uint64(seed))
    key = splitmix(key ^ np.uint64(replica))
    return splitmix(key ^ (np.uint64(source) * np.uint64(0xD1B54A32D192ED03)))


def seed_stream(seed, replica, source, s):
    """Seed the two state words ``s`` of the stream keyed by ``(seed, replica, source)``."""
    key = splitmix(np.uint64(seed))
    key = splitmix(key ^ np.uint64(replica))
    key = splitmix(key ^ (np.uint64(source) * np.uint64(0xD1B54A32D192ED03)))
    s[0] = splitmix(key)
    s[1] = splitmix(key ^ np.uint64(0x6A09E667F3BCC909))
    if s[0] == np.uint64(0) and s[1] == np.uint64(0):
        s[1] = np.uint64(1)


def next_state(s0, s1):
    """xoroshiro128+ on a state held in locals: ``(output, s0', s1')``.

    The same step as :func:`next_u64`; hot loops keep the two words in registers with it
    (load them once, call this, store them back) instead of a memory round trip per draw.
    """
    result = s0 + s1
    s1 = s1 ^ s0
    return (result,
            ((s0 << np.uint64(24)) | (s0 >> np.uint64(40))) ^ s1 ^ (s1 << np.uint64(16)),
            (s1 << np.uint64(37)) | (s1 >> np.uint64(27)))


def next_u64(s):
    """xoroshiro128+ (Blackman and Vigna 2018, parameters 24, 16, 37): next 64-bit output."""
    result, s0, s1 = next_state(s[0], s[1])
    s[0] = s0
    s[1] = s1
    return result


def uniform_state(s0, s1):
    """:func:`uniform` on a state held in locals: ``(u, s0', s1')``."""
    r, s0, s1 = next_state(s0, s1)
    return (np.float64(r >> np.uint64(11)) + 1.0) * (1.0 / 9007199254740992.0), s0, s1


def uniform(s):
    """A uniform double in (0, 1] (never 0, so its log is finite), from the top 53 bits."""
    u, s0, s1 = uniform_state(s[0], s[1])
    s[0] = s0
    s[1] = s1
    return u


def normal_slow(iz, hz, s0, s1):
    """The ziggurat's rare branches for a draw rejected by the fast test (about 1.2%).

    Continues :func:`normal_state` from the rejected layer ``iz`` and value ``hz``: the base
    strip's tail (``iz == 0``), else the wedge test, drawing a new 64-bit word after a wedge
    rejection. Returns ``(x, s0', s1')``.
    """
    while True:
        if iz == 0:
            while True:
                ux, s0, s1 = uniform_state(s0, s1)
                uy, s0, s1 = uniform_state(s0, s1)
                x = -math.log(ux) * 0.2904764
                y = -math.log(uy)
                if y + y >= x * x:
                    break
            if hz > 0:
                return 3.442620 + x, s0, s1
            return -3.442620 - x, s0, s1
        x = hz * _WN[iz]
        uw, s0, s1 = uniform_state(s0, s1)
        if _FN[iz] + uw * (_FN[iz - 1] - _FN[iz]) < math.exp(-0.5 * x * x):
            return x, s0, s1
        u, s0, s1 = next_state(s0, s1)
        iz = np.int64((u >> np.uint64(8)) & np.uint64(127))
        hz = np.int64(u >> np.uint64(32)) - 2147483648
        ahz = hz if hz >= 0 else -hz
        if ahz < _KN[iz]:
            return hz * _WN[iz], s0, s1


def normal_state(s0, s1):
    """:func:`normal` on a state held in locals: ``(x, s0', s1')`` (the same draws).

    The fast path (one 64-bit word, one table test) is small enough to inline into a loop; the
    rest is :func:`normal_slow`.
    """
    u, s0, s1 = next_state(s0, s1)
    iz = np.int64((u >> np.uint64(8)) & np.uint64(127))
    hz = np.int64(u >> np.uint64(32)) - 2147483648
    ahz = hz if hz >= 0 else -hz
    if ahz < _KN[iz]:
        return hz * _WN[iz], s0, s1
    return normal_slow(iz, hz, s0, s1)


def normal(s):
    """A standard normal by the 128-layer ziggurat (Marsaglia and Tsang 2000)."""
    x, s0, s1 = normal_state(s[0], s[1])
    s[0] = s0
    s[1] = s1
    return x




def copy_streams(src, dst):
    """Copy the state of every stream of the group ``src`` into ``dst`` (same length).

    After the copy, ``dst`` replays exactly the draws ``src`` is about to make: a method uses
    it to evaluate one sample at two points.
    """
    for r in range(src.shape[0]):
        dst[r, 0] = src[r, 0]
        dst[r, 1] = src[r, 1]


#: The generator's functions, in the order the kernel factory emits them.
RNG_FUNCTIONS = (splitmix, seed_stream, next_state, next_u64, uniform_state, uniform, normal_slow,
                 normal_state, normal, copy_streams)
