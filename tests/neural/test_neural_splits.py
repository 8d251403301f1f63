"""Every splitting tool keeps the counts and proportions its docstring promises, per seed."""

from __future__ import annotations

import numpy as np
import pytest

from simlab.neural import splits as S

#: 10 classes of unequal sizes (60..105 examples), shuffled
Y = np.random.default_rng(0).permutation(np.repeat(np.arange(10), np.arange(60, 110, 5)))


def test_long_tail_counts_follow_the_profile():
    c = S.long_tail_counts(100, 10, rho=10)
    assert c[0] == 100 and c[-1] == 10
    assert np.all(np.diff(c) <= 0)
    expect = np.floor(100 * 10.0 ** (-np.arange(10) / 9) + 1e-9)
    assert np.array_equal(c, expect)
    assert np.array_equal(S.long_tail_counts(50, 4, rho=1), [50] * 4)
    with pytest.raises(ValueError, match="rho"):
        S.long_tail_counts(10, 3, rho=0.5)


@pytest.mark.parametrize("rho", [1.0, 5.0, 20.0])
def test_long_tail_subset_has_exact_counts_and_is_seeded(rho):
    idx = S.long_tail(Y, rho, seed=3)
    counts = S.class_counts(Y[idx], 10)
    assert np.array_equal(counts, S.long_tail_counts(60, 10, rho))
    assert counts[0] / counts[-1] == pytest.approx(rho, rel=0.1)
    assert len(np.unique(idx)) == idx.size
    assert np.array_equal(idx, S.long_tail(Y, rho, seed=3))
    if rho > 1:
        assert not np.array_equal(idx, S.long_tail(Y, rho, seed=4))


def test_step_imbalance_exact_counts():
    idx = S.step_imbalance(Y, rho=4, seed=0, n_minority=3, n_max=40)
    counts = S.class_counts(Y[idx], 10)
    assert counts.tolist() == [40] * 7 + [10] * 3
    assert S.step_counts(40, 10, 4).tolist() == [40] * 5 + [10] * 5
    with pytest.raises(ValueError, match="class 0 has 60 examples, fewer than the 61"):
        S.imbalanced_subset(Y, [61] + [1] * 9, seed=0)


@pytest.mark.parametrize("kind", ["permutation", "swap"])
@pytest.mark.parametrize("strength", [0.0, 0.3, 1.0])
def test_label_shift_relabels_exact_fraction_of_moved_classes(kind, strength):
    sh = S.label_shift_tasks(Y, n_aux=4, strength=strength, seed=7, kind=kind, n_pairs=2)
    assert len(sh.labels) == 4 and sh.maps.shape == (4, 10)
    for lab, m, changed in zip(sh.labels, sh.maps, sh.changed):
        assert sorted(m.tolist()) == list(range(10))  # a bijection
        moved = np.flatnonzero(m != np.arange(10))
        assert moved.size == (10 if kind == "permutation" else 4)
        for c in range(10):
            in_c = Y == c
            k = int(round(strength * in_c.sum())) if c in moved else 0
            assert changed[in_c].sum() == k
            assert np.all(lab[in_c & changed] == m[c])
            assert np.all(lab[in_c & ~changed] == c)
        assert np.array_equal(changed, lab != Y)


def test_label_shift_task_does_not_depend_on_n_aux_and_seed_matters():
    a = S.label_shift_tasks(Y, 2, 0.5, seed=1)
    b = S.label_shift_tasks(Y, 5, 0.5, seed=1)
    c = S.label_shift_tasks(Y, 2, 0.5, seed=2)
    assert all(np.array_equal(x, y) for x, y in zip(a.labels, b.labels[:2]))
    assert not np.array_equal(a.labels[0], c.labels[0])
    assert not np.array_equal(a.maps[0], a.maps[1]) or not np.array_equal(a.labels[0],
                                                                          a.labels[1])
    with pytest.raises(ValueError, match="strength must lie in"):
        S.label_shift_tasks(Y, 1, 1.5, seed=0)
    with pytest.raises(ValueError, match="kind must be"):
        S.label_shift_tasks(Y, 1, 0.5, seed=0, kind="shuffle")


def test_rotation_tasks_rotate_by_their_angles():
    rng = np.random.default_rng(0)
    X = rng.random((3, 1, 8, 8)).astype(np.float32)
    xs, angles = S.rotation_tasks(X, n_aux=2, max_degrees=180)
    assert angles.tolist() == [90.0, 180.0]
    assert np.allclose(xs[0], np.rot90(X, k=1, axes=(2, 3)), atol=1e-5)
    assert np.allclose(xs[1], X[:, :, ::-1, ::-1], atol=1e-5)
    assert np.array_equal(S.rotate_images(X, 0), X)
    xs, angles = S.rotation_tasks(X, 2, 0, angles=[10, -10])
    assert angles.tolist() == [10.0, -10.0] and not np.allclose(xs[0], X)


@pytest.mark.parametrize("alpha", [0.1, 1.0, 100.0])
def test_dirichlet_skew_partitions_with_exact_rounded_counts(alpha):
    parts, props = S.dirichlet_label_skew(Y, n_tasks=5, alpha=alpha, seed=11)
    allidx = np.concatenate(parts)
    assert np.array_equal(np.sort(allidx), np.arange(Y.size))  # a partition
    assert props.shape == (10, 5) and np.allclose(props.sum(1), 1)
    n_c = S.class_counts(Y, 10)
    for c in range(10):
        got = np.array([(Y[p] == c).sum() for p in parts])
        assert got.sum() == n_c[c]
        assert np.all(np.abs(got - n_c[c] * props[c]) < 1)  # largest-remainder rounding
    again, _ = S.dirichlet_label_skew(Y, 5, alpha, seed=11)
    assert all(np.array_equal(p, q) for p, q in zip(parts, again))


def test_dirichlet_concentration_controls_the_skew():
    def skew(alpha):
        _, p = S.dirichlet_label_skew(Y, 8, alpha, seed=5)
        return float(p.max(axis=1).mean())

    assert skew(0.05) > 0.6 > 0.2 > skew(1000.0)
    with pytest.raises(ValueError, match="alpha"):
        S.dirichlet_label_skew(Y, 3, 0.0, seed=0)


@pytest.mark.parametrize("rate", [0.0, 0.2, 0.75])
def test_symmetric_noise_exact_count_never_keeps_label(rate):
    new, mask = S.symmetric_noise(Y, rate, seed=2)
    assert mask.sum() == round(rate * Y.size)
    assert np.array_equal(mask, new != Y)
    assert new.min() >= 0 and new.max() < 10
    assert np.array_equal(new, S.symmetric_noise(Y, rate, seed=2)[0])
    if rate:
        # the wrong labels spread over the other classes
        assert len(np.unique(new[mask])) == 10


@pytest.mark.parametrize("rate", [0.1, 0.4])
def test_flip_noise_per_class_count_and_mapping(rate):
    new, mask = S.flip_noise(Y, rate, seed=4)
    for c in range(10):
        in_c = Y == c
        assert mask[in_c].sum() == round(rate * in_c.sum())
        assert np.all(new[in_c & mask] == (c + 1) % 10)
    m = np.array([1, 0, 3, 2, 5, 4, 7, 6, 9, 8])
    new, mask = S.flip_noise(Y, rate, seed=4, mapping=m)
    assert np.all(new[mask] == m[Y[mask]])
    with pytest.raises(ValueError, match="another class"):
        S.flip_noise(Y, rate, seed=0, mapping=np.arange(10))


def test_balanced_split_holds_out_exactly_per_class():
    rest, held = S.balanced_split(Y, per_class=20, seed=9)
    assert S.class_counts(Y[held], 10).tolist() == [20] * 10
    assert np.intersect1d(rest, held).size == 0 and rest.size + held.size == Y.size
    assert np.array_equal(held, S.balanced_split(Y, 20, seed=9)[1])
    assert not np.array_equal(held, S.balanced_split(Y, 20, seed=10)[1])
    with pytest.raises(ValueError, match="class 0 has 60 examples"):
        S.balanced_split(Y, 60, seed=0)


def test_bad_labels_and_seeds_are_named():
    with pytest.raises(ValueError, match="1-d integer"):
        S.class_counts(np.array([0.5, 1.0]))
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        S.symmetric_noise(Y, 0.1, seed=-1)
    with pytest.raises(ValueError, match="rate must lie in"):
        S.symmetric_noise(Y, -0.1, seed=0)
