"""Kernel ops of the streaming samplers (numba's CPU/CUDA subset; no allocation, no recursion).

One step of every sampler of :mod:`simlab.subsample.methods` (spec 2.3's reference loop):

1. every ``Delta`` steps the serving copy is refreshed from the training parameters
   (``Delta = 0``: the serving model *is* the training model, the record is fresh);
2. the window of ``n`` instances is drawn (the task's ``stream_window``);
3. the recorded information (the serving-time loss of each instance, free) or a fresh score
   (one extra training forward per instance, counted) is turned into inclusion probabilities
   ``p`` and per-instance multipliers ``v`` by the sampler's rule;
4. diagnostics, exact given the window (computed only for the steps whose state the engine
   records: the ``recorded`` argument): the step direction's conditional mean-squared error
   around the window-mean gradient (bias^2 + variance; Poisson design), the same for the
   uniform Horvitz-Thompson sampler at the same budget, an unbiased estimate of the window
   noise ``tr Cov(window-mean gradient)``, the direction's second moment and the largest weight;
5. instances are drawn (Poisson: independently with probability ``p_i``; Katharopoulos-Fleuret:
   ``k`` with replacement) and ``theta <- theta - eta_t sum_{i in S} v_i g_i / n``.

``hyper`` (see :meth:`simlab.subsample.methods.StreamSampler.hyper`)::

    0 rule (0 full, 1 uniform, 2 water-filling, 3 gradient-norm oracle, 4 negative
      downsampling, 5 Selective Backprop, 6 top-k, 7 Katharopoulos-Fleuret)
    1 k (expected backward passes per window)   2 eta   3 decay t0 (0: constant step)
    4 Delta (serving refresh)   5 epsilon   6 alpha   7 p_min   8 w_max   9 fresh scores
    10 beta (Selective Backprop)   11 negative rate r   12 tau threshold (KF)
    13 record shift (a misaligned record join; 0 normally)   14 weighting (0 HT, 1 none)
    15 normaliser (0: n; 1: the number drawn)

``state`` (slot, 8)::

    0 backward passes so far   1 training forwards so far   2 grad_mse   3 mse_ratio
    4 window_var   5 step_sq   6 max_weight (2..6: of the last step)   7 KF's tau
"""

from __future__ import annotations

import math

from simlab.engine.rng import uniform


def ss_fsum(s, n, c, pmin):
    """``sum_i clip(c s_i, pmin, 1)``: the budget that the level ``c`` spends."""
    f = 0.0
    for i in range(n):
        q = c * s[i]
        if q >= 1.0:
            f += 1.0
        elif q <= pmin:
            f += pmin
        else:
            f += q
    return f


def ss_level(s, n, c, pmin, k):
    """The level that spends ``k`` exactly if the capped and floored sets stay those at ``c``
    (``-1`` when no instance is between the floor and the cap)."""
    nc = 0.0
    nf = 0.0
    sm = 0.0
    for i in range(n):
        q = c * s[i]
        if q >= 1.0:
            nc += 1.0
        elif q <= pmin:
            nf += 1.0
        else:
            sm += s[i]
    if sm <= 0.0:
        return -1.0
    return (k - nc - pmin * nf) / sm


def ss_waterfill(s, n, k, pmin, p):
    """[R] ``p_i = clip(c s_i, p_min, 1)`` with ``sum p = k`` (spec 2.2, floor of 2.4).

    A safeguarded Newton iteration on the piecewise-linear budget ``f(c)``: the exact level of
    the current capped/floored sets, bisection when that leaves the bracket; each step is one
    pass, no sort. ``s >= 0``, ``0 < k <= n``, ``p_min <= k / n`` (checked by the method).
    When fewer instances have a positive score than the budget needs, all of them are kept and
    the rest of the budget is spread evenly over the others. Returns the level ``c``.
    """
    if k >= n:
        for i in range(n):
            p[i] = 1.0
        return 0.0
    total = 0.0
    npos = 0.0
    for i in range(n):
        total += s[i]
        if s[i] > 0.0:
            npos += 1.0
    if npos + pmin * (n - npos) <= k:
        rest = (k - npos) / (n - npos) if n > npos else 1.0
        for i in range(n):
            p[i] = 1.0 if s[i] > 0.0 else rest
        return math.inf
    lo = 0.0
    hi = k / total
    while ss_fsum(s, n, hi, pmin) < k:
        lo = hi
        hi = 2.0 * hi
    c = k / total
    for _ in range(200):
        f = ss_fsum(s, n, c, pmin)
        if abs(f - k) <= 1e-12 * k:
            break
        if f < k:
            lo = max(lo, c)
        else:
            hi = min(hi, c)
        cand = ss_level(s, n, c, pmin, k)
        if lo < cand < hi and cand != c:
            c = cand
        else:
            c = 0.5 * (lo + hi)
    for i in range(n):
        q = c * s[i]
        p[i] = 1.0 if q >= 1.0 else (pmin if q <= pmin else q)
    return c


def ss_smooth(s, n, eps, alpha):
    """[R] spec 2.4 in place: ``s <- (1 - eps) s^alpha / mean(s^alpha) + eps`` (``0^0 = 1``;
    an all-zero record becomes uniform)."""
    m = 0.0
    for i in range(n):
        if alpha != 1.0:
            s[i] = math.pow(s[i], alpha) if s[i] > 0.0 else (1.0 if alpha == 0.0 else 0.0)
        m += s[i]
    m = m / n
    for i in range(n):
        s[i] = (1.0 - eps) * s[i] / m + eps if m > 0.0 else 1.0


def ss_sift(key, idx, start, end):
    """Heap sift-down of ``idx[start..end]`` by ``key`` (a max-heap)."""
    root = start
    while True:
        child = 2 * root + 1
        if child > end:
            break
        sw = root
        if key[int(idx[sw])] < key[int(idx[child])]:
            sw = child
        if child + 1 <= end and key[int(idx[sw])] < key[int(idx[child + 1])]:
            sw = child + 1
        if sw == root:
            break
        tmp = idx[root]
        idx[root] = idx[sw]
        idx[sw] = tmp
        root = sw


def ss_argsort(key, idx, n):
    """``idx`` <- the indices ``0..n-1`` in ascending order of ``key`` (heapsort, in place)."""
    for i in range(n):
        idx[i] = i
    for start in range((n - 2) // 2, -1, -1):
        ss_sift(key, idx, start, n - 1)
    for end in range(n - 1, 0, -1):
        tmp = idx[0]
        idx[0] = idx[end]
        idx[end] = tmp
        ss_sift(key, idx, 0, end - 1)


def ss_init(tdata, tmeta, hyper, theta, serve, state):
    """The serving copy starts as the starting model; counters and tau at 0."""
    for j in range(theta.shape[0]):
        serve[j] = theta[j]
    for q in range(state.shape[0]):
        state[q] = 0.0


def ss_record(tdata, tmeta, hyper, state, row):
    """``backward``, ``cost`` (forward 1, backward 2; serving forwards free) and the last
    step's diagnostics."""
    row[0] = state[0]
    row[1] = state[1] + 2.0 * state[0]
    for q in range(5):
        row[2 + q] = state[2 + q]


def ss_scores(tdata, tmeta, hyper, theta, serve, X, y, rec, scratch, n):
    """The score each rule samples by, into ``rec``; returns the extra training forwards
    (``scratch``, of size ``D``, is overwritten)."""
    rule = int(hyper[0])
    shift = int(hyper[13])
    fresh = hyper[9] > 0.0 or rule == 3 or rule == 7
    for i in range(n):
        src = (i + shift) % n
        if rule == 3:
            rec[i] = stream_grad(tdata, tmeta, theta, X, y, src, 0.0, scratch)  # noqa: F821
        elif rule == 7:
            rec[i] = stream_dloss(tdata, tmeta, theta, X, y, src)  # noqa: F821
        elif fresh or int(hyper[4]) == 0:
            rec[i] = stream_loss(tdata, tmeta, theta, X, y, src)  # noqa: F821
        else:
            rec[i] = stream_loss(tdata, tmeta, serve, X, y, src)  # noqa: F821
    return float(n) if fresh else 0.0


def ss_probabilities(hyper, y, rec, p, v, aux, n):
    """Inclusion probabilities ``p`` and multipliers ``v`` of the Poisson rules (0-6)."""
    rule = int(hyper[0])
    k = hyper[1]
    if rule == 0:
        for i in range(n):
            p[i] = 1.0
    elif rule == 1:
        for i in range(n):
            p[i] = k / n
    elif rule == 2 or rule == 3:
        ss_smooth(rec, n, hyper[5], hyper[6])
        ss_waterfill(rec, n, k, hyper[7], p)
    elif rule == 4:
        for i in range(n):
            p[i] = 1.0 if y[i] > 0.5 else hyper[11]
    elif rule == 5:
        ss_argsort(rec, aux, n)
        for j in range(n):
            p[int(aux[j])] = math.pow((j + 0.5) / n, hyper[10])
    else:
        ss_argsort(rec, aux, n)
        kk = int(k + 0.5)
        for j in range(n):
            p[int(aux[j])] = 1.0 if j >= n - kk else 0.0
    unweighted = hyper[14] > 0.0 or rule == 5 or rule == 6
    sp = 0.0
    for i in range(n):
        sp += p[i]
    for i in range(n):
        if unweighted:
            v[i] = n / sp
        elif p[i] > 0.0:
            v[i] = min(1.0 / p[i], hyper[8])
        else:
            v[i] = 0.0
    return sp


def ss_diagnose(tdata, tmeta, hyper, theta, X, y, p, v, g2, gbar, gbias, state, n, sp):
    """Exact diagnostics of the step direction given the window (Poisson design)."""
    D = theta.shape[0]
    k = hyper[1]
    for j in range(D):
        gbar[j] = 0.0
        gbias[j] = 0.0
    denom = sp if hyper[15] > 0.0 else float(n)
    sq = 0.0
    var = 0.0
    wmax = 0.0
    for i in range(n):
        g = stream_grad(tdata, tmeta, theta, X, y, i, 1.0 / n, gbar)  # noqa: F821
        g2[i] = g * g
        sq += g2[i]
        stream_grad(tdata, tmeta, theta, X, y, i, p[i] * v[i] / denom, gbias)  # noqa: F821
        var += p[i] * (1.0 - p[i]) * v[i] * v[i] * g2[i]
        if p[i] > 0.0 and v[i] > wmax:
            wmax = v[i]
    var = var / (denom * denom)
    bias2 = 0.0
    mean2 = 0.0
    gb2 = 0.0
    for j in range(D):
        e = gbias[j] - gbar[j]
        bias2 += e * e  # not ** 2: numpy's scalar power is not always x * x
        mean2 += gbias[j] * gbias[j]
        gb2 += gbar[j] * gbar[j]
    mse = bias2 + var
    vu = (n / k - 1.0) * sq / (n * n)
    state[2] = mse
    state[3] = mse / vu if vu > 0.0 else 1.0
    state[4] = (sq - n * gb2) / (n * (n - 1.0))
    state[5] = mean2 + var
    state[6] = wmax


def ss_poisson_step(tdata, tmeta, hyper, theta, X, y, p, v, step, draws, n, sp):
    """Draw ``S`` (Poisson) and accumulate ``sum_{i in S} v_i g_i / denom`` into ``step``;
    returns ``|S|``."""
    cnt = 0.0
    for i in range(n):
        if uniform(draws[0]) <= p[i]:
            cnt += 1.0
            p[i] = -p[i] - 1.0  # mark as drawn (p is rebuilt next step)
    denom = cnt if hyper[15] > 0.0 else float(n)
    for i in range(n):
        if p[i] < 0.0 and denom > 0.0:
            stream_grad(tdata, tmeta, theta, X, y, i, v[i] / denom, step)  # noqa: F821
    return cnt


def ss_kf_step(tdata, tmeta, hyper, theta, X, y, rec, aux, g2, gbar, step, state, draws, n,
               recorded):
    """Katharopoulos-Fleuret (spec 5.2): ``k`` draws with replacement, by ``q = s / sum s``
    once the EMA ``tau`` of ``sqrt(n sum q_i^2)`` passes its threshold, else uniform; the
    diagnostics only when ``recorded``."""
    D = theta.shape[0]
    kk = int(hyper[1] + 0.5)
    ss_smooth(rec, n, hyper[5], 1.0)
    tot = 0.0
    for i in range(n):
        tot += rec[i]
    q2 = 0.0
    acc = 0.0
    for i in range(n):
        acc += rec[i] / tot
        aux[i] = acc
        q = rec[i] / tot
        q2 += q * q
    state[7] = 0.9 * state[7] + 0.1 * math.sqrt(n * q2)
    active = state[7] > hyper[12]
    if recorded:
        for j in range(D):
            gbar[j] = 0.0
        sq = 0.0
        inv = 0.0
        wmax = 0.0
        for i in range(n):
            g = stream_grad(tdata, tmeta, theta, X, y, i, 1.0 / n, gbar)  # noqa: F821
            g2[i] = g * g
            sq += g2[i]
            qi = rec[i] / tot if active else 1.0 / n
            if qi > 0.0:
                inv += g2[i] / (n * n * qi)
                if 1.0 / (n * qi) > wmax:
                    wmax = 1.0 / (n * qi)
        gb2 = 0.0
        for j in range(D):
            gb2 += gbar[j] * gbar[j]
        var = (inv - gb2) / kk
        vu = (n / hyper[1] - 1.0) * sq / (n * n)
        state[2] = var
        state[3] = var / vu if vu > 0.0 else 1.0
        state[4] = (sq - n * gb2) / (n * (n - 1.0))
        state[5] = gb2 + var
        state[6] = wmax
    for _ in range(kk):
        u = uniform(draws[0])
        if active:
            lo = 0
            hi = n - 1
            while lo < hi:
                mid = (lo + hi) // 2
                if aux[mid] >= u:
                    hi = mid
                else:
                    lo = mid + 1
            w = 1.0 / (n * (rec[lo] / tot))
        else:
            lo = min(n - 1, int(u * n))
            w = 1.0
        stream_grad(tdata, tmeta, theta, X, y, lo, w / kk, step)  # noqa: F821
    return float(kk)


def ss_step(tdata, tmeta, hyper, t, recorded, theta, serve, step, gbar, gbias, X, y, rec, p, v,
            aux, g2, state, data, draws):
    """One step of the streaming sampler (see the module docstring); the exact diagnostics
    (two gradient passes over the window) only when the engine records this step's state."""
    D = theta.shape[0]
    n = y.shape[0]
    rule = int(hyper[0])
    refresh = int(hyper[4])
    if refresh > 0 and t % refresh == 0:
        for j in range(D):
            serve[j] = theta[j]
    stream_window(tdata, tmeta, t, data, X, y)  # noqa: F821
    extra = 0.0
    if rule != 0 and rule != 1 and rule != 4:
        extra = ss_scores(tdata, tmeta, hyper, theta, serve, X, y, rec, gbias, n)
    for j in range(D):
        step[j] = 0.0
    if rule == 7:
        cnt = ss_kf_step(tdata, tmeta, hyper, theta, X, y, rec, aux, g2, gbar, step, state,
                         draws, n, recorded)
    else:
        sp = ss_probabilities(hyper, y, rec, p, v, aux, n)
        if recorded:
            ss_diagnose(tdata, tmeta, hyper, theta, X, y, p, v, g2, gbar, gbias, state, n, sp)
        cnt = ss_poisson_step(tdata, tmeta, hyper, theta, X, y, p, v, step, draws, n, sp)
    state[0] += cnt
    state[1] += cnt + extra
    eta = hyper[2]
    if hyper[3] > 0.0:
        eta = eta / (1.0 + t / hyper[3])
    for j in range(D):
        theta[j] -= eta * step[j]
