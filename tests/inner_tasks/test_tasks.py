"""The shared task smoke test, plus task-specific checks against independent NumPy formulas."""

from __future__ import annotations

import dataclasses
import functools
import pickle

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import inner_tasks
from inner_tasks import base
from inner_tasks.char_lm import CharLM
from inner_tasks.image import ImageConv, ImageMLP, ResNet20
from inner_tasks.lj_cluster import LJCluster
from inner_tasks.quadratic import Quadratic, QuadraticFamily, quadratic_matrix
from inner_tasks.rosenbrock import Rosenbrock

SMOKE_TASKS = [
    Quadratic(dim=5, condition_number=10.0),
    Quadratic(dim=8, condition_number=1e3, noise_std=0.5, rotate=False, seed=3),
    Rosenbrock(dim=3),
    LJCluster(n_atoms=7),
    LJCluster(n_atoms=13, ase_compatible=True),
    ImageMLP(dataset="digits", hidden=(16,), batch_size=8, eval_size=100),
    ImageConv(dataset="digits", channels=(4, 8), batch_size=8, eval_size=100),
    ImageMLP(dataset="mnist", hidden=(8,), batch_size=8, eval_size=100),
    CharLM(model="mlp", context=4, embed=4, hidden=8, batch_size=4, num_chars=20_000, eval_size=16),
    CharLM(model="gru", context=6, embed=4, hidden=8, batch_size=4, num_chars=20_000, eval_size=16),
]


@functools.partial(jax.jit, static_argnums=0)
def _smoke_run(task, key, datasets):
    """Everything the smoke test inspects, in one compiled program (the task is a static argument)."""
    params = task.init(key)
    batch = task.batch(jax.random.fold_in(key, 1), "train", datasets)
    batch_again = task.batch(jax.random.fold_in(key, 1), "train", datasets)
    loss, grads = jax.value_and_grad(task.loss)(params, jax.random.fold_in(key, 2), batch)
    state_loss, state = task.loss_with_state(params, None, jax.random.fold_in(key, 2), batch)
    metrics = task.evaluate(params, "outer_valid", datasets)
    opt = optax.adam(1e-2)

    def step(carry, t):
        p, s = carry
        b = task.batch(jax.random.fold_in(key, 10 + t), "train", datasets)
        value, g = jax.value_and_grad(task.loss)(p, jax.random.fold_in(key, 100 + t), b)
        updates, s = opt.update(g, s, p)
        return (optax.apply_updates(p, updates), s), value

    (trained, _), values = jax.lax.scan(step, (params, opt.init(params)), jnp.arange(5))
    return {
        "params": params,
        "batch": batch,
        "batch_again": batch_again,
        "loss": loss,
        "grads": grads,
        "state_loss": state_loss,
        "metrics": metrics,
        "values": values,
        "test_metrics": task.evaluate(trained, "test", datasets),
    }


@pytest.mark.parametrize("task", SMOKE_TASKS, ids=lambda t: t.name)
def test_task_smoke(task):
    out = _smoke_run(task, jax.random.key(0), task.datasets)
    params = out["params"]
    leaves = jax.tree.leaves(params)
    assert leaves and all(leaf.dtype == jnp.float32 for leaf in leaves)
    # init / loss / grad
    assert out["loss"].shape == () and np.isfinite(out["loss"])
    assert all(np.isfinite(g).all() for g in jax.tree.leaves(out["grads"]))
    assert jax.tree.structure(out["grads"]) == jax.tree.structure(params)
    np.testing.assert_allclose(out["state_loss"], out["loss"], rtol=1e-6)
    # batches are pure functions of the key
    for a, b in zip(jax.tree.leaves(out["batch"]), jax.tree.leaves(out["batch_again"])):
        np.testing.assert_array_equal(a, b)
    # evaluate: the declared metrics
    metrics = out["metrics"]
    assert set(metrics) == ({"loss", "accuracy"} if task.has_accuracy else {"loss"})
    assert np.isfinite(metrics["loss"])
    if task.has_accuracy:
        assert 0.0 <= float(metrics["accuracy"]) <= 1.0
    # lower bound respected along a short Adam run and at its end
    tol = 1e-6 * max(1.0, abs(task.lower_bound))
    assert (np.asarray(out["values"]) >= task.lower_bound - tol).all()
    assert float(out["test_metrics"]["loss"]) >= task.lower_bound - tol
    # pickle round trip: equal, same hash (so the compiled program is reused), small (no data inside)
    blob = pickle.dumps(task)
    assert len(blob) < 2000
    clone = pickle.loads(blob)
    assert clone == task and hash(clone) == hash(task) and clone.fingerprint() == task.fingerprint()
    again = _smoke_run(clone, jax.random.key(0), clone.datasets)
    np.testing.assert_array_equal(again["loss"], out["loss"])
    # learned_optimization's interface
    assert task.init_with_state(jax.random.key(0))[1] is None
    assert task.normalizer(out["loss"]) is out["loss"]
    assert isinstance(task.name, str) and task.name


@pytest.mark.parametrize("task", SMOKE_TASKS, ids=lambda t: t.name)
def test_frozen_and_dataclass(task):
    assert dataclasses.is_dataclass(task)
    with pytest.raises(dataclasses.FrozenInstanceError):
        task.dtype = "float64"
    assert task.config()["kind"].endswith(type(task).__name__)


def test_data_tasks_cache_their_arrays_per_configuration():
    a = ImageMLP(dataset="digits", hidden=(16,), batch_size=8)
    b = ImageMLP(dataset="digits", hidden=(16,), batch_size=8)
    assert a.datasets is b.datasets
    assert a.datasets.inner_valid is a.datasets.outer_valid
    assert Quadratic().datasets is None
    with pytest.raises(ValueError, match="split"):
        a.batch(jax.random.key(0), "validation")


def test_float64_params_when_asked():
    for task in (
        Quadratic(dim=3, dtype="float64"),
        LJCluster(7, dtype="float64"),
        ImageMLP("digits", dtype="float64"),
    ):
        assert all(x.dtype == jnp.float64 for x in jax.tree.leaves(task.init(jax.random.key(0))))


def test_bad_configurations_raise_value_errors():
    cases = [
        (lambda: Quadratic(dim=0), "dim"),
        (lambda: Quadratic(condition_number=0.5), "condition_number"),
        (lambda: Quadratic(noise_std=-1.0), "noise_std"),
        (lambda: Rosenbrock(dim=1), "dim"),
        (lambda: LJCluster(n_atoms=39), "n_atoms"),
        (lambda: ImageMLP(dataset="imagenet"), "dataset"),
        (lambda: ImageMLP(dtype="float16"), "dtype"),
        (lambda: ImageConv(pool="avg"), "pool"),
        (lambda: CharLM(model="lstm"), "model"),
    ]
    for make, field in cases:
        with pytest.raises(ValueError, match=field):
            make()


# -- quadratics ------------------------------------------------------------------------------------------------------


def test_quadratic_matches_numpy_formula_and_spectrum():
    task = Quadratic(dim=6, condition_number=1e3, seed=4, dtype="float64")
    h, c = quadratic_matrix(task)
    eig = np.linalg.eigvalsh(h)
    np.testing.assert_allclose(eig.max() / eig.min(), 1e3, rtol=1e-9)
    np.testing.assert_allclose(np.sort(eig), np.geomspace(1e-3, 1, 6), rtol=1e-9)
    x = np.random.default_rng(0).standard_normal(6)
    expected = 0.5 * (x - c) @ h @ (x - c)
    np.testing.assert_allclose(task.loss(jnp.asarray(x), jax.random.key(0)), expected, rtol=1e-12)
    np.testing.assert_allclose(
        jax.grad(task.loss)(jnp.asarray(x), jax.random.key(0)), h @ (x - c), rtol=1e-10
    )
    assert float(task.loss(jnp.asarray(c), jax.random.key(0))) == pytest.approx(0.0, abs=1e-20)


def test_noisy_quadratic_perturbs_gradients_not_values():
    exact = Quadratic(dim=4, condition_number=10.0, dtype="float64")
    noisy = dataclasses.replace(exact, noise_std=0.7)
    x = jnp.arange(4.0)
    keys = jax.random.split(jax.random.key(3), 4000)
    values = jax.vmap(lambda k: noisy.loss(x, k))(keys)
    np.testing.assert_allclose(values, exact.loss(x, keys[0]), rtol=1e-12)
    grads = jax.vmap(lambda k: jax.grad(noisy.loss)(x, k))(keys)
    g0 = jax.grad(exact.loss)(x, keys[0])
    np.testing.assert_allclose(grads.mean(0), g0, atol=5 * 0.7 / np.sqrt(4000))
    np.testing.assert_allclose(grads.std(0), 0.7, rtol=0.06)


def test_quadratic_family_samples_valid_tasks():
    family = QuadraticFamily(min_dim=2, max_dim=40, max_log10_condition=3.0, max_noise_std=0.5)
    cfgs = [family.sample(jax.random.key(i)) for i in range(20)]
    for cfg in cfgs:
        task = family.task_fn(cfg)
        assert 2 <= task.dim <= 40 and 1 <= task.condition_number <= 1e3 + 1e-6 and 0 <= task.noise_std <= 0.5
        assert task == Quadratic(**cfg)
    assert len({c["dim"] for c in cfgs}) > 3
    assert family.sample(jax.random.key(5)) == family.sample(jax.random.key(5))
    assert isinstance(family.sample_task(jax.random.key(1)), base.Task)


# -- Rosenbrock ---------------------------------------------------------------------------------------------------------


def test_rosenbrock_formula_and_minimum():
    task = Rosenbrock(dim=4, dtype="float64")
    x = np.array([0.3, -1.1, 0.7, 2.0])
    expected = sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(3))
    np.testing.assert_allclose(task.loss(jnp.asarray(x), None), expected, rtol=1e-12)
    assert float(task.loss(jnp.ones(4), None)) == 0.0
    assert float(jnp.abs(jax.grad(task.loss)(jnp.ones(4), None)).max()) == 0.0
    start = task.init(jax.random.key(0))
    assert np.abs(np.asarray(start) - [-1.2, 1.0, -1.2, 1.0]).max() < 0.5


# -- image models ---------------------------------------------------------------------------------------------------------


def test_rllc_mlp_and_conv_shapes():
    mlp = ImageMLP(dataset="mnist")
    shapes = jax.eval_shape(mlp.init, jax.random.key(0))
    assert [shapes[f"dense_{i}"]["w"].shape for i in range(4)] == [
        (784, 128),
        (128, 128),
        (128, 128),
        (128, 10),
    ]
    assert mlp.num_params() == 784 * 128 + 128 + 2 * (128 * 128 + 128) + 128 * 10 + 10
    conv = ImageConv(dataset="mnist")
    shapes = jax.eval_shape(conv.init, jax.random.key(0))
    assert [shapes[f"conv_{i}"]["w"].shape for i in range(3)] == [
        (3, 3, 1, 32),
        (3, 3, 32, 64),
        (3, 3, 64, 64),
    ]
    logits = jax.eval_shape(conv.apply, shapes, jax.ShapeDtypeStruct((5, 28, 28, 1), jnp.float32))
    assert logits.shape == (5, 10)


def test_resnet20_structure_without_data():
    net = ResNet20()
    shapes = jax.eval_shape(net.init, jax.random.key(0))
    convs = [
        leaf
        for path, leaf in jax.tree_util.tree_leaves_with_path(shapes)
        if leaf.ndim == 4 and leaf.shape[0] == 3
    ]
    assert len(convs) == 19  # the stem and 18 3x3 convolutions in 9 blocks: 20 layers with the dense head
    assert 0.26e6 < net.num_params() < 0.28e6
    logits = jax.eval_shape(net.apply, shapes, jax.ShapeDtypeStruct((2, 32, 32, 3), jnp.float32))
    assert logits.shape == (2, 10)
    x = jnp.arange(2 * 32 * 32 * 3, dtype=jnp.float32).reshape(2, 32, 32, 3)
    out = net._augment(jax.random.key(0), x)
    assert out.shape == x.shape
    # each augmented image is a (possibly flipped) crop of the zero-padded original
    assert set(np.unique(np.asarray(out))) <= set(np.unique(np.asarray(x))) | {0.0}


def test_mlp_batch_normalises_with_documented_constants():
    task = ImageMLP(dataset="mnist", batch_size=16)
    batch = task.batch(jax.random.key(0), "train")
    assert batch["x"].shape == (16, 28, 28, 1) and batch["y"].dtype == jnp.int32
    assert float(batch["x"].min()) == pytest.approx((0 - 0.1307) / 0.3081, rel=1e-5)


def test_char_lm_sizes_and_targets():
    assert CharLM().num_params() < 100_000
    assert CharLM(model="gru", hidden=64, context=32).num_params() < 100_000
    task = CharLM(context=4, batch_size=3, num_chars=20_000)
    batch = task.batch(jax.random.key(0), "train")
    assert batch["tokens"].shape == (3, 5)
    tokens = np.asarray(task.datasets.train["tokens"])
    for row in np.asarray(batch["tokens"]):
        matches = np.flatnonzero(np.all(np.lib.stride_tricks.sliding_window_view(tokens, 5) == row, axis=1))
        assert matches.size >= 1  # windows are real substrings of the train split


def test_suite_tasks_are_task_instances():
    for suite in inner_tasks.SUITES.values():
        assert all(isinstance(t, base.Task) for t in suite.tasks)


def test_user_data_directory_feeds_fashion_mnist_and_cifar_tasks(tmp_path):
    from inner_tasks.data import cifar, idx

    rng = np.random.default_rng(0)
    fashion = tmp_path / "fashion_mnist"
    fashion.mkdir()
    for prefix, n in (("train", 48), ("t10k", 16)):
        idx.write_idx(
            fashion / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        )
        idx.write_idx(fashion / f"{prefix}-labels-idx1-ubyte.gz", rng.integers(0, 10, n).astype(np.uint8))
    cifar_dir = tmp_path / "cifar-10-batches-bin"
    cifar_dir.mkdir()
    for name in (*cifar.TRAIN_BATCHES, "test_batch.bin"):
        cifar.write_cifar_batch(
            cifar_dir / name, rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8), np.arange(4)
        )
    for task in (
        ImageMLP(dataset="fashion_mnist", hidden=(4,), batch_size=4, data_dir=str(tmp_path)),
        ImageConv(dataset="cifar10", channels=(2,), batch_size=4, data_dir=str(tmp_path)),
    ):
        data = task.datasets
        assert data.train["x"].dtype == jnp.uint8
        assert data.test["x"].shape[0] == (16 if task.dataset == "fashion_mnist" else 4)
        params = task.init(jax.random.key(0))
        metrics = jax.jit(task.evaluate, static_argnums=1)(params, "test")
        assert np.isfinite(metrics["loss"]) and 0 <= float(metrics["accuracy"]) <= 1


def test_missing_user_data_is_one_clear_error(tmp_path):
    task = ImageMLP(dataset="cifar10", data_dir=str(tmp_path), source="files")
    with pytest.raises(inner_tasks.DataError, match=r"cifar10.*no directory found"):
        _ = task.datasets
