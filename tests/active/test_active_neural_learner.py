"""The MLP learner of the active-learning loop: shapes, probabilities, replay, the missing-class
refusal, and a short Margin loop on a Gaussian-mixture pool (directly and through simulate)."""

import numpy as np
import pytest

import simlab
from simlab.active import ActiveLearning, GaussianMixturePool, MissingClassError, run_active

torch = pytest.importorskip("torch")

from simlab.active.neural_learner import MLPLearner  # noqa: E402

POOL = GaussianMixturePool(d=2, n_classes=3, n_pool=300, n_test=600, sep=2.5, seed=0)


def test_fit_predict_shapes_and_probabilities():
    D = POOL.data()
    m = MLPLearner(3, hidden=16, epochs=10, seed=1)
    assert m.n_classes == 3
    np.testing.assert_allclose(m.predict_proba(D.X_test[:5]), 1 / 3)  # unfitted: uniform
    threads = torch.get_num_threads()
    assert m.fit(D.X[:40], D.y[:40]) is m
    assert torch.get_num_threads() == threads  # restored
    P = m.predict_proba(D.X_test)
    assert P.shape == (D.X_test.shape[0], 3) and P.dtype == np.float64
    assert np.all(P >= 0)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_array_equal(m.predict(D.X_test), np.argmax(P, axis=1))
    assert not hasattr(m, "direction")
    with pytest.raises(ValueError, match="features"):
        m.predict_proba(np.zeros((2, 3)))


def test_refits_replay_exactly_with_the_same_seed():
    D = POOL.data()
    X, y = D.X[:60], D.y[:60]
    a = MLPLearner(3, hidden=8, epochs=5, batch_size=16, seed=7).fit(X, y)
    b = MLPLearner(3, hidden=8, epochs=5, batch_size=16, seed=7).fit(X, y)
    Pa = a.predict_proba(D.X_test)
    np.testing.assert_array_equal(Pa, b.predict_proba(D.X_test))
    torch.manual_seed(123)  # the global torch RNG plays no part
    np.testing.assert_array_equal(a.fit(X, y).predict_proba(D.X_test), Pa)
    c = MLPLearner(3, hidden=8, epochs=5, batch_size=16, seed=8).fit(X, y)
    assert not np.array_equal(c.predict_proba(D.X_test), Pa)


def test_missing_class_and_bad_input_are_refused():
    D = POOL.data()
    keep = D.y[:60] != 2
    with pytest.raises(MissingClassError, match=r"class\(es\) \[2\]"):
        MLPLearner(3).fit(D.X[:60][keep], D.y[:60][keep])
    MLPLearner(3, epochs=1, require_all_classes=False).fit(D.X[:60][keep], D.y[:60][keep])
    with pytest.raises(ValueError, match="labels must lie"):
        MLPLearner(2).fit(D.X[:10], D.y[:10] + 5)
    with pytest.raises(ValueError, match="NaN"):
        MLPLearner(3).fit(np.full((3, 2), np.nan), np.arange(3))
    for kw, msg in ((dict(n_classes=1), "n_classes"), (dict(n_classes=3, hidden=0), "hidden"),
                    (dict(n_classes=3, epochs=0), "epochs"), (dict(n_classes=3, lr=0), "lr"),
                    (dict(n_classes=3, activation="sin"), "activation")):
        with pytest.raises(ValueError, match=msg):
            MLPLearner(**kw)


def test_margin_loop_improves_on_the_seed_set_model():
    D = POOL.data()
    res = run_active(D.X, POOL.oracle(0), MLPLearner(3, hidden=16, epochs=30, seed=0),
                     "margin", 12, 10, 4, D.X_test, D.y_test, np.random.default_rng(0),
                     np.random.default_rng(100))
    np.testing.assert_array_equal(res.labels, 12 + 10 * np.arange(5))
    assert res.test_acc[-1] > res.test_acc[0] + 0.05


def test_active_learning_runs_the_mlp_through_simulate():
    m = ActiveLearning(sampler="margin", k=10, n_seed=15, learner="mlp", hidden=8, epochs=10)
    assert m.name == "margin (k=10, mlp)"
    tr = simlab.simulate(POOL, m, steps=m.horizon(2), replicas=2, seed=1,
                         checkpoints=[0, m.horizon(2)])
    assert tr.metrics == ("labels", "test_acc")
    np.testing.assert_array_equal(tr.values[-1, :, 0], m.horizon(2))
    np.testing.assert_allclose(tr.values[0, :, 1], np.mean(POOL.data().y_test == 0))
    assert np.all(tr.values[-1, :, 1] > 0.6)
    again = simlab.simulate(POOL, m, steps=m.horizon(2), replica_ids=[1], seed=1,
                            checkpoints=[0, m.horizon(2)])
    np.testing.assert_array_equal(again.values[:, 0], tr.values[:, 1])
    with pytest.raises(ValueError, match="learner must be one of"):
        ActiveLearning(learner="forest")
    with pytest.raises(ValueError, match="record_angle needs a linear learner"):
        ActiveLearning(learner="mlp", record_angle=True)
    for kw in (dict(hidden=0), dict(epochs=0), dict(lr=-1.0)):
        with pytest.raises(ValueError, match=next(iter(kw))):
            ActiveLearning(learner="mlp", **kw)


def test_embed_is_the_penultimate_layer_and_needs_a_fit():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    y = (X[:, 0] > 0).astype(int)
    m = MLPLearner(2, hidden=(6, 5), epochs=2)
    with pytest.raises(RuntimeError, match="fitted"):
        m.embed(X)
    m.fit(X, y)
    Z = m.embed(X)
    assert Z.shape == (40, 5) and (Z >= 0).all()  # after the last ReLU
    with torch.no_grad():  # the head applied to the embedding gives the logits
        logits = m.model_.head(torch.tensor(Z)).numpy()
    np.testing.assert_allclose(logits, m.decision_function(X), rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="features"):
        m.embed(X[:, :2])
