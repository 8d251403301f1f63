"""The neural streaming comparison (:mod:`simlab.neural.subsample`): budget, savings, seeds.

Small runs only (a 5,120-instance stream, width 64, one torch thread): the whole file takes a
few seconds on 2 cores.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from simlab.neural.subsample import (  # noqa: E402
    SAMPLERS,
    MixtureStream,
    NeuralSubsample,
    StreamTrainer,
    checkpoint_windows,
    run_subsample,
    window_loss,
)
from simlab.subsample import inclusion_probabilities, poisson, systematic  # noqa: E402

TASK = MixtureStream(dim=16, n_classes=4, clusters_per_class=2)
WINDOW = 256
WINDOWS = 20  # 5,120 instances
SMALL = dict(window=WINDOW, hidden=(64,), test_size=500, threads=1)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Every torch call in this file on one thread (two threads on a busy 2-core machine
    spend most of their time waiting for each other)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _run(sampler: str, seed: int = 3, task: MixtureStream = TASK, **kw):
    m = NeuralSubsample(sampler=sampler, **{**SMALL, **kw})
    return run_subsample(task, m, windows=WINDOWS, seed=seed, checkpoints=4)


# --- the budget ----------------------------------------------------------------------------

def test_full_trains_on_every_instance():
    r = _run("full")
    assert r.rho == 1.0
    np.testing.assert_array_equal(r.backward, r.instances)
    assert r.instances[-1] == WINDOWS * WINDOW
    np.testing.assert_array_equal(r.windows, [0, 5, 10, 15, 20])


@pytest.mark.parametrize("sampler", ["uniform", "waterfill"])
def test_backward_count_is_rho_times_instances(sampler):
    # Poisson designs: the count is a sum of independent Bernoulli(p_i) with sum(p) = rho * N
    # exactly (water-filling spends the budget to rounding), so its variance is at most
    # rho * N = 512; 5 standard deviations (~113) leave a false-failure chance below 1e-6.
    r = _run(sampler, rho=0.1)
    expected = 0.1 * WINDOWS * WINDOW
    assert abs(r.backward[-1] - expected) <= 5 * math.sqrt(expected)
    assert r.backward[-1] < 0.2 * r.instances[-1]  # far from full training


@pytest.mark.parametrize("sampler, kw", [("waterfill", dict(design="systematic")),
                                         ("uniform", dict(uniform_design="fixed")),
                                         ("top_k", {})])
def test_fixed_size_designs_draw_exactly_round_rho_n_per_window(sampler, kw):
    r = _run(sampler, rho=0.1, **kw)
    np.testing.assert_array_equal(r.backward, r.windows * round(0.1 * WINDOW))


def test_selective_backprop_keeps_about_rho():
    # keep probability CDF^beta with beta = 1/rho - 1: a keep rate near rho (the recorded
    # losses of a training stream are not i.i.d., so only a loose factor-2 band is asserted)
    r = _run("selective_backprop", rho=0.25)
    frac = r.backward[-1] / r.instances[-1]
    assert 0.125 < frac < 0.5


# --- real savings: the skipped instances never reach the model in training -----------------

def _trainer(sampler: str = "waterfill", seed: int = 0) -> tuple[StreamTrainer, list]:
    m = NeuralSubsample(sampler=sampler, rho=0.1, **SMALL)
    model = m.build_model(TASK, seed)
    tr = StreamTrainer(m, model, np.random.default_rng(seed))
    seen: list = []
    orig = tr.select

    def recording(recorded):
        s = orig(recorded)
        seen.append(s)
        return s

    tr.select = recording
    return tr, seen


@pytest.mark.parametrize("sampler", ["uniform", "waterfill", "top_k"])
def test_training_forward_sees_only_the_selected_rows(sampler):
    tr, seen = _trainer(sampler)
    rows: list = []
    serving_rows: list = []
    tr.model.register_forward_hook(lambda mod, inp, out: rows.append(inp[0].detach().clone()))
    tr.serving.register_forward_hook(lambda mod, inp, out: serving_rows.append(inp[0].shape[0]))
    rng = np.random.default_rng(1)
    for _ in range(5):
        Xn, yn = TASK.draw(WINDOW, rng)
        X, y = torch.from_numpy(Xn), torch.from_numpy(yn)
        stats = tr.step(X, y)
        s = seen[-1]
        assert stats.backward == s.indices.size < WINDOW // 4
        if s.indices.size:
            torch.testing.assert_close(rows[-1], X[torch.from_numpy(s.indices)], rtol=0,
                                       atol=0)
    assert serving_rows == [WINDOW] * 5  # the serving forward runs on every instance
    assert sum(r.shape[0] for r in rows) == sum(s.indices.size for s in seen)


def test_skipped_instances_get_exactly_zero_gradient():
    m = NeuralSubsample(sampler="waterfill", rho=0.1, **SMALL)
    model = m.build_model(TASK, 0)
    Xn, yn = TASK.draw(WINDOW, np.random.default_rng(2))
    X = torch.from_numpy(Xn).requires_grad_(True)
    y = torch.from_numpy(yn)
    with torch.no_grad():
        rec = torch.nn.functional.cross_entropy(model(X), y, reduction="none").numpy()
    s = poisson(inclusion_probabilities(rec.astype(np.float64), 25.6, epsilon=0.1),
                np.random.default_rng(0))
    window_loss(model, X, y, s).backward()
    g = X.grad.abs().sum(1).numpy()
    skipped = np.setdiff1d(np.arange(WINDOW), s.indices)
    assert s.indices.size > 0 and np.all(g[skipped] == 0) and np.all(g[s.indices] > 0)


# --- seeds ---------------------------------------------------------------------------------

def test_same_seed_gives_identical_results():
    a, b = _run("waterfill", seed=5), _run("waterfill", seed=5)
    for key in ("backward", "test_acc", "test_loss", "stream_loss", "max_coef"):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key))
    c = _run("waterfill", seed=6)
    assert not np.array_equal(a.test_loss, c.test_loss)


class RecordingStream(MixtureStream):
    """The same stream, remembering a checksum of every window it hands out."""

    log: ClassVar[list] = []

    def windows(self, n_windows, window, seed):
        for X, y in super().windows(n_windows, window, seed):
            RecordingStream.log.append((float(X.astype(np.float64).sum()), int(y.sum())))
            yield X, y


def test_every_sampler_sees_the_same_stream_from_the_same_start():
    task = RecordingStream(dim=16, n_classes=4, clusters_per_class=2)
    logs, results = {}, {}
    for s in SAMPLERS:
        RecordingStream.log = []
        results[s] = _run(s, seed=7, task=task)
        logs[s] = list(RecordingStream.log)
    first = logs["full"]
    assert len(first) == WINDOWS
    for s in SAMPLERS:
        assert logs[s] == first, s  # same instances, same order, same length (full included)
        np.testing.assert_array_equal(results[s].instances, results["full"].instances)
        assert results[s].test_loss[0] == results["full"].test_loss[0]  # same initial weights


# --- unbiasedness of the training loss ------------------------------------------------------

@pytest.mark.parametrize("design", ["waterfill-poisson", "waterfill-systematic", "uniform"])
def test_ht_window_loss_is_unbiased_for_the_window_mean(design):
    # recorded losses from a stale serving model (another init), the loss of the current one:
    # the Horvitz-Thompson window loss is unbiased for the window mean whatever p is.
    # Tolerance: 4 Monte Carlo standard errors (false failure ~6e-5 per design).
    m = NeuralSubsample(sampler="waterfill", **SMALL)
    model, stale = m.build_model(TASK, 0), m.build_model(TASK, 1)
    Xn, yn = TASK.draw(WINDOW, np.random.default_rng(4))
    X, y = torch.from_numpy(Xn), torch.from_numpy(yn)
    with torch.no_grad():
        rec = torch.nn.functional.cross_entropy(stale(X), y, reduction="none").double().numpy()
        exact = float(window_loss(model, X, y, None))
        rng = np.random.default_rng(11)
        if design == "uniform":
            p = np.full(WINDOW, 0.1)
        else:
            k = 26 if design.endswith("systematic") else 25.6
            p = inclusion_probabilities(rec, k, epsilon=0.1)
        draw = ((lambda: systematic(p, rng, shuffle=True)) if design.endswith("systematic")
                else (lambda: poisson(p, rng)))
        est = np.array([float(window_loss(model, X, y, draw())) for _ in range(3000)])
    se = est.std(ddof=1) / math.sqrt(est.size)
    assert abs(est.mean() - exact) <= 4 * se, (est.mean(), exact, se)


# --- the runner protocol -------------------------------------------------------------------

def test_simulate_returns_a_trace_whose_replica_0_is_run_subsample():
    from simlab import simulate

    m = NeuralSubsample(sampler="waterfill", rho=0.2, **SMALL)
    tr = simulate(TASK, m, steps=8, replicas=2, seed=9, checkpoints=[0, 4, 8])
    assert tr.axis == "windows" and tr.metrics == NeuralSubsample.metrics
    assert tr.values.shape == (3, 2, len(NeuralSubsample.metrics))
    direct = run_subsample(TASK, m, windows=8, seed=9, checkpoints=[4, 8])
    np.testing.assert_array_equal(tr.metric("test_acc")[:, 0], direct.test_acc)
    np.testing.assert_array_equal(tr.metric("backward")[:, 0], direct.backward)
    assert not np.array_equal(tr.metric("test_loss")[:, 0], tr.metric("test_loss")[:, 1])


def test_result_helpers():
    r = _run("full")
    assert r.final("test_acc", tail=0.0) == r.test_acc[-1]
    assert r.time_to(-1.0) == 0.0
    assert r.time_to(2.0) == math.inf
    hit = int(np.argmax(r.test_acc >= r.test_acc[2]))
    assert r.time_to(r.test_acc[2], serving=True) == r.seconds_total[hit]
    assert r.time_to(r.test_acc[2], axis="backward") == r.backward[hit]
    assert set(r.arrays()) >= {"instances", "backward", "seconds_train", "seconds_total",
                               "test_acc", "test_loss"}
    assert np.all(np.diff(r.seconds_total) >= 0)
    np.testing.assert_allclose(r.seconds_total, r.seconds_train + r.seconds_serving)


# --- bad input -----------------------------------------------------------------------------

@pytest.mark.parametrize("kw, match", [
    (dict(rho=0.0), r"rho must be in \(0, 1\]"),
    (dict(rho=1.5), r"rho must be in \(0, 1\]"),
    (dict(rho=-0.1), r"rho must be in \(0, 1\]"),
    (dict(rho=float("nan")), r"rho must be in \(0, 1\]"),
    (dict(window=1), r"window must be an integer >= 2"),
    (dict(sampler="random"), r"sampler must be one of"),
    (dict(refresh=0), r"refresh must be an integer >= 1"),
    (dict(epsilon=2.0), r"epsilon must be in \[0, 1\]"),
    (dict(hidden=()), r"hidden must be a non-empty tuple"),
    (dict(optimizer="lbfgs"), r"optimizer must be one of"),
    (dict(sampler="top_k", rho=0.001, window=100), r"rounds to 0 backward passes"),
])
def test_bad_configuration_raises_a_clear_value_error(kw, match):
    with pytest.raises(ValueError, match=match):
        NeuralSubsample(**kw)


def test_bad_run_arguments_raise_before_any_work():
    m = NeuralSubsample(**SMALL)
    with pytest.raises(ValueError, match="exactly one of instances and windows"):
        run_subsample(TASK, m, instances=100, windows=2)
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        run_subsample(TASK, m, windows=2, seed=-1)
    with pytest.raises(ValueError, match=r"checkpoints must lie in \[0, windows = 2\]"):
        run_subsample(TASK, m, windows=2, checkpoints=[5])
    with pytest.raises(ValueError, match="MixtureStream"):
        run_subsample(object(), m, windows=2)
    with pytest.raises(ValueError, match="separation must be finite and > 0"):
        MixtureStream(separation=0.0)
    np.testing.assert_array_equal(checkpoint_windows(10, 2), [0, 5, 10])
