"""The PyTorch collab methods: identities with SGD, exact measurements, the surrogate task."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from simlab.collab import BCEMA, BCMVR, WGA, AuxMOM, SGDAlone  # noqa: E402
from simlab.neural import collab as nc  # noqa: E402
from simlab.neural.data import ArrayDataset, load_digits  # noqa: E402
from simlab.neural.models import build_model  # noqa: E402

F64 = torch.float64
HID = {"hidden": (8,)}


@pytest.fixture(scope="module")
def small():
    """A small digits problem (N = 2, strength 0.5) in float64."""
    d = load_digits().subset(np.arange(400))
    return nc.label_shift_problem(2, 0.5, batch_size=4, test_per_class=5, seed=0, dtype=F64,
                                  data=d)


def _run(problem, method, steps=12, seeds=(0, 1), **kw):
    return nc.run_collab(problem, method, steps, seeds, model_kwargs=HID, checkpoints="all",
                         keep_params=True, **kw)


def test_wga_with_e0_is_sgd_alone_step_for_step(small):
    a = _run(small, SGDAlone(step_size=0.3))
    b = _run(small, WGA(weights="alone", step_size=0.3))
    c = _run(small, WGA(weights=(1.0, 0.0, 0.0), step_size=0.3))
    assert a.params.shape == (13, 2, b.params.shape[2])
    assert np.array_equal(a.params, b.params) and np.array_equal(a.params, c.params)
    assert np.array_equal(a.metrics["test_loss"], b.metrics["test_loss"])
    assert not np.allclose(a.params[-1], _run(small, WGA(step_size=0.3)).params[-1])


def test_uniform_wga_over_identical_tasks_is_sgd_on_the_pooled_batch():
    d = load_digits().subset(np.arange(300))
    n_aux, B, eta, seed = 3, 4, 0.5, 7
    problem = nc.CollabProblem([d] * (n_aux + 1), d.subset(np.arange(20)), batch_size=B,
                               dtype=F64)
    res = nc.run_collab(problem, WGA(weights="uniform", step_size=eta), 10, [seed],
                        model_kwargs=HID, checkpoints="all", keep_params=True)
    # SGD with plain autograd on a module, on the concatenation of the tasks' minibatches
    model = build_model("mlp", d.input_shape, 10, seed=seed, dtype=F64, **HID)
    sampler = nc.TaskSampler([seed], range(n_aux + 1), problem.sizes, B)
    X, y = torch.as_tensor(d.X, dtype=F64), torch.as_tensor(d.y)
    opt = torch.optim.SGD(model.parameters(), lr=eta)
    flat = nc.FlatModel(model)
    for t in range(10):
        assert np.allclose(flat.flatten().numpy(), res.params[t, 0], rtol=0, atol=1e-12)
        idx = sampler.next()[0].reshape(-1)  # (N + 1) B examples
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(X[idx]), y[idx]).backward()
        opt.step()
    assert np.allclose(flat.flatten().numpy(), res.params[10, 0], rtol=0, atol=1e-12)


def test_bc_ema_edge_cases(small):
    alone = _run(small, SGDAlone(step_size=0.3))
    bc1 = _run(small, BCEMA(step_size=0.3, momentum=1.0))  # a = 1: SGD alone (rounding)
    assert np.allclose(bc1.params, alone.params, rtol=0, atol=1e-12)
    wga = _run(small, WGA(step_size=0.3))
    bc0 = _run(small, BCEMA(step_size=0.3, momentum=0.0))  # a = 0, m = 0: WGA
    assert np.allclose(bc0.params, wga.params, rtol=0, atol=1e-12)
    # uncoupled samples and init_batch draw from bank 1, and AuxMOM runs (alpha_0 = 0)
    unc = _run(small, BCEMA(step_size=0.3, momentum=1.0, coupled=False, init_batch=2))
    assert not np.allclose(unc.params[-1], alone.params[-1])
    aux = _run(small, AuxMOM(step_size=0.3, momentum=0.5))
    assert aux.info["alpha"] == [0.0, 0.5, 0.5] and np.all(np.isfinite(aux.params))


def test_runs_are_deterministic_and_task0_samples_do_not_depend_on_n():
    d = load_digits().subset(np.arange(300))
    p2 = nc.label_shift_problem(2, 0.3, batch_size=4, test_per_class=5, data=d)
    p4 = nc.label_shift_problem(4, 0.3, batch_size=4, test_per_class=5, data=d)
    a = _run(p2, BCEMA(step_size=0.2, momentum=0.3), seeds=(3,))
    b = _run(p2, BCEMA(step_size=0.2, momentum=0.3), seeds=(3,))
    assert np.array_equal(a.params, b.params)
    df = a.to_pandas()
    assert {"t", "seed", "test_loss", "grad_norm_sq", "method"} <= set(df.columns)
    # SGD alone sees the same task-0 minibatches at every N (common random numbers)
    s2, s4 = _run(p2, SGDAlone(step_size=0.2)), _run(p4, SGDAlone(step_size=0.2))
    assert np.array_equal(s2.params, s4.params)


def test_flat_model_fast_path_matches_module_and_vmap():
    X = torch.rand(3, 2, 5, 1, 8, 8, dtype=F64)
    y = torch.randint(10, (3, 2, 5))
    for name, kw in (("mlp", {"hidden": (8, 6)}), ("cnn", {"hidden": 6, "channels": (2, 3)})):
        fm = nc.FlatModel(build_model(name, (1, 8, 8), 10, dtype=F64, **kw))
        assert (fm._plan is not None) == (name == "mlp")
        th = torch.stack([fm.flatten(build_model(name, (1, 8, 8), 10, seed=s, dtype=F64,
                                                 **kw)) for s in range(3)])
        th3 = th[:, None].expand(3, 2, -1)
        v = fm.block_loss(th3, X, y, 1 / 5)
        ref = torch.tensor([[torch.nn.functional.cross_entropy(
            fm.logits(th[r], X[r, a]), y[r, a]).item() for a in range(2)] for r in range(3)],
            dtype=F64)
        assert torch.allclose(v, ref, atol=1e-12)
        assert torch.allclose(fm.batched_logits(th3, X), fm._vmap_logits(th3, X), atol=1e-12)
        # per-example squared gradient norms against autograd
        Xe, ye = X[0, 0], y[0, 0]
        got = fm.example_grad_sq(th, Xe, ye, chunk=2)
        for r in range(3):
            for j in range(5):
                t = th[r].clone().requires_grad_(True)
                loss = torch.nn.functional.cross_entropy(fm.logits(t, Xe[j:j + 1]), ye[j:j + 1])
                (g,) = torch.autograd.grad(loss, t)
                assert got[r, j].item() == pytest.approx(float((g * g).sum()), rel=1e-10)


def test_measured_noise_and_bias_are_the_exact_definitions(small):
    res = nc.run_collab(small, WGA(step_size=0.2), 5, [0], model_kwargs=HID, measure=[0, 4],
                        keep_params=True, checkpoints=[0, 4, 5])
    row = res.measured[res.measured.t == 4].iloc[0]
    fm = nc.FlatModel(build_model("mlp", small.input_shape, 10, dtype=F64, **HID))
    x = torch.as_tensor(res.params[1, 0])  # x_4

    def full_grad(task, idx=None):
        n = int(small.sizes[task])
        idx = torch.arange(n) if idx is None else idx
        t = x.clone().requires_grad_(True)
        loss = torch.nn.functional.cross_entropy(fm.logits(t, small.X[task, idx]),
                                                 small.y[task, idx])
        return torch.autograd.grad(loss, t)[0]

    g = [full_grad(i) for i in range(3)]
    assert row.grad_norm_sq == pytest.approx(float((g[0] ** 2).sum()), rel=1e-9)
    bias = g[0] - (g[0] + g[1] + g[2]) / 3
    assert row.zeta_bar_sq == pytest.approx(float((bias ** 2).sum()), rel=1e-9)
    mb = ((g[1] - g[0]) + (g[2] - g[0])) / 2
    assert row.mean_bias_sq == pytest.approx(float((mb ** 2).sum()), rel=1e-9)
    # sigma_0^2 = E||g_B - grad f_0||^2 for B draws with replacement: Monte Carlo check
    rng = torch.Generator().manual_seed(0)
    n0 = int(small.sizes[0])
    draws = [float(((full_grad(0, torch.randint(n0, (4,), generator=rng)) - g[0]) ** 2).sum())
             for _ in range(400)]
    se = np.std(draws) / np.sqrt(len(draws))
    assert abs(np.mean(draws) - row.sigma0_sq) < 4 * se
    assert set(res.pairs.columns) >= {"lipschitz", "curvature", "delta_max", "delta_bar"}
    assert (res.pairs.t1 - res.pairs.t0 == 1).any()


def test_study_constants_alpha0_and_surrogate(small):
    st = nc.CollabStudy(small, steps=8, seeds=[0, 1], eta=0.2, model_kwargs=HID, n_measure=3)
    res = st.run(["alone", "wga", "wga-opt", "bc"])
    assert list(res) == ["Alone", "WGA uniform", "WGA opt", "BC-EMA"]
    c = st.constants(res)
    for k in ("sigma0_sq", "zeta_sq", "zeta_bar_sq_uniform", "L", "mu", "delta", "F0"):
        assert np.isfinite(c[k]) and c[k] >= 0
    a0 = res["WGA opt"].info["alpha0"]
    from theory.collab import wga_opt_mse

    c_pilot = st.constants({k: res[k] for k in ("Alone", "WGA uniform")})
    assert a0 == pytest.approx(float(wga_opt_mse(sigma2=c_pilot["sigma0_sq"], N=2,
                                                 zeta2=c_pilot["zeta_sq"])))
    summ = st.summary(res)
    assert summ["final"]["WGA uniform"]["alpha0"] == pytest.approx(1 / 3)
    task = nc.surrogate_task(c, n_aux=2, d=6)
    tc = task.constants("uniform")
    assert tc["L"] == pytest.approx(c["L"]) and tc["F0"] == pytest.approx(c["F0"])
    assert tc["zeta_bar"] ** 2 == pytest.approx(4 / 9 * c["zeta_sq"])
    assert tc["sigma"][0] ** 2 == pytest.approx(c["sigma0_sq"])


def test_bad_input_is_named(small):
    with pytest.raises(NotImplementedError, match="BCMVR has no PyTorch implementation"):
        nc.run_collab(small, BCMVR(), 3, [0])
    with pytest.raises(ValueError, match="weights must have length N\\+1 = 3"):
        nc.run_collab(small, WGA(weights=(0.5, 0.5)), 3, [0])
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        nc.run_collab(small, WGA(), 0, [0])
    with pytest.raises(ValueError, match="seeds"):
        nc.run_collab(small, WGA(), 3, [])
    d = load_digits().subset(np.arange(20))
    X = d.X.copy()
    X[:, 0, 4, 4] = np.inf  # every minibatch gradient is NaN: the first step diverges
    bad = nc.CollabProblem([d.with_inputs(X)], d, batch_size=2)
    with pytest.raises(FloatingPointError, match="Alone diverged at step 1 in replica 0"):
        nc.run_collab(bad, SGDAlone(step_size=0.1), 5, [4], model_kwargs=HID)
    other = ArrayDataset(np.zeros((4, 1, 4, 4)), np.zeros(4, dtype=int), 10)
    with pytest.raises(ValueError, match="task 1: inputs"):
        nc.CollabProblem([d, other], d)
