"""The training loop: curves against an independent loop, vmap vs loop, one compilation per structure."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from inner_tasks import training
from inner_tasks.image import ImageMLP
from inner_tasks.quadratic import Quadratic, quadratic_matrix
from inner_tasks.rosenbrock import Rosenbrock

QUAD = Quadratic(dim=6, condition_number=20.0, seed=2)


def _sgd(hparams):
    return optax.sgd(hparams["learning_rate"])


def _adam(hparams):
    return optax.adam(hparams["learning_rate"], b1=hparams["b1"])


def test_eval_schedule():
    steps, full, rem = training.eval_schedule(25, 10)
    np.testing.assert_array_equal(steps, [0, 10, 20, 25])
    assert (full, rem) == (2, 5)
    np.testing.assert_array_equal(training.eval_schedule(20, 10)[0], [0, 10, 20])
    with pytest.raises(ValueError, match="eval_every"):
        training.eval_schedule(10, 0)


def test_sgd_curve_equals_an_independent_numpy_loop():
    task = Quadratic(dim=6, condition_number=20.0, seed=2, dtype="float64")
    keys = training.make_keys(3)
    result = training.train(task, optax.sgd(0.3), 40, keys, eval_every=15)
    h, c = quadratic_matrix(task)
    for s in range(3):
        x = np.asarray(task.init(jax.random.split(keys[s])[0]), np.float64)
        expected = []
        evals = {0: 0.5 * (x - c) @ h @ (x - c)}
        for t in range(40):
            expected.append(0.5 * (x - c) @ h @ (x - c))
            x = x - 0.3 * h @ (x - c)
            if (t + 1) % 15 == 0 or t + 1 == 40:
                evals[t + 1] = 0.5 * (x - c) @ h @ (x - c)
        np.testing.assert_allclose(result.train_loss[s], expected, rtol=1e-6)
        np.testing.assert_allclose(result.eval_loss[s], [evals[k] for k in (0, 15, 30, 40)], rtol=1e-6)
    np.testing.assert_array_equal(result.eval_steps, [0, 15, 30, 40])
    assert result.eval_accuracy is None and not result.diverged.any()


def test_shapes_and_accuracy_on_a_data_task():
    task = ImageMLP(dataset="digits", hidden=(16,), batch_size=16, eval_size=250)
    result = training.train(task, optax.adam(3e-3), 60, 2, eval_every=20)
    assert result.train_loss.shape == (2, 60)
    assert result.eval_loss.shape == (2, 4) and result.eval_accuracy.shape == (2, 4)
    assert (result.eval_accuracy[:, -1] > result.eval_accuracy[:, 0]).all()
    assert (result.eval_loss[:, -1] < result.eval_loss[:, 0]).all()


@pytest.mark.parametrize("task", [QUAD, ImageMLP(dataset="digits", hidden=(8,), batch_size=8, eval_size=100)])
def test_vmap_and_loop_paths_agree(task):
    numeric = {"learning_rate": np.array([1e-3, 1e-2, 3e-2]), "b1": np.array([0.9, 0.5, 0.0])}
    keys = training.make_keys(2)
    a = training.train_population(task, _adam, numeric, 30, keys, 10, path="vmap")
    b = training.train_population(task, _adam, numeric, 30, keys, 10, path="loop")
    assert a.path == "vmap" and b.path == "loop" and a.train_loss.shape == (3, 2, 30)
    np.testing.assert_allclose(a.train_loss, b.train_loss, rtol=2e-4, atol=1e-6)
    np.testing.assert_allclose(a.eval_loss, b.eval_loss, rtol=2e-4, atol=1e-6)


def test_population_equals_separate_runs_with_python_floats():
    numeric = {"learning_rate": np.array([0.05, 0.2]), "b1": np.array([0.9, 0.8])}
    keys = training.make_keys(2)
    pop = training.train_population(QUAD, _adam, numeric, 25, keys, 5)
    for p in range(2):
        single = training.train(
            QUAD, optax.adam(float(numeric["learning_rate"][p]), b1=float(numeric["b1"][p])), 25, keys, 5
        )
        np.testing.assert_allclose(pop.train_loss[p], single.train_loss, rtol=1e-5, atol=1e-7)


def test_one_compilation_per_structure_and_path():
    task = Quadratic(dim=4, condition_number=3.0, seed=11)
    keys = training.make_keys(4)
    for path in ("vmap", "loop"):
        before = training.compile_count()
        training.train_population(
            task, _sgd, {"learning_rate": np.geomspace(1e-3, 1e-1, 16)}, 20, keys, 5, path=path
        )
        assert training.compile_count() - before == 1
        training.train_population(
            task, _sgd, {"learning_rate": np.geomspace(2e-3, 2e-1, 16)}, 20, keys, 5, path=path
        )
        assert training.compile_count() - before == 1  # new numeric values: no recompilation
    # a different structure (another make_opt) compiles once more
    before = training.compile_count()
    training.train_population(
        task, _adam, {"learning_rate": np.ones(16) * 1e-2, "b1": np.ones(16) * 0.9}, 20, keys, 5
    )
    assert training.compile_count() - before == 1


def test_train_reuses_the_program_of_the_same_optimizer_object():
    opt = optax.adam(1e-2)
    task = Quadratic(dim=4, condition_number=3.0, seed=12)
    before = training.compile_count()
    training.train(task, opt, 10, 2, path="vmap")
    training.train(task, opt, 10, training.make_keys(2), path="vmap")
    assert training.compile_count() - before == 1


def test_divergence_flags():
    result = training.train(Rosenbrock(dim=2), optax.sgd(1.0), 30, 2, 10)
    assert result.diverged.all()
    assert (
        not np.isfinite(result.train_loss[:, -1]).all()
        or (result.train_loss.max(axis=1) > 10 * result.train_loss[:, 0]).all()
    )
    ok = training.train(Rosenbrock(dim=2), optax.adam(1e-3), 30, 2, 10)
    assert not ok.diverged.any()
    # the 10x-initial-gap rule, checked on synthetic curves
    curves = np.array([[1.0, 5.0, 10.5], [1.0, 9.0, 0.5], [1.0, np.nan, 0.1]])
    np.testing.assert_array_equal(training._divergence(curves, np.zeros((3, 2)), 0.0), [True, False, True])


def test_params_dtype_is_kept_with_float64_hyperparameters():
    task = Quadratic(dim=4, condition_number=3.0, seed=13, dtype="float32")

    def make(h):
        opt = optax.sgd(h["learning_rate"])
        init, update = opt

        def checked_update(g, s, p=None):
            assert p.dtype == jnp.float32 and g.dtype == jnp.float32
            return update(g, s, p)

        return optax.GradientTransformation(init, checked_update)

    result = training.train_population(task, make, {"learning_rate": np.array([0.1], np.float64)}, 5, 1, 5)
    assert result.train_loss.dtype == np.float32


def test_make_keys_and_input_validation():
    typed = training.make_keys(3)
    raw = jax.random.key_data(typed)
    np.testing.assert_array_equal(jax.random.key_data(training.make_keys(raw)), raw)
    assert training.make_keys(jax.random.key(0)).shape == (1,)
    with pytest.raises(ValueError, match="keys"):
        training.make_keys(0)
    with pytest.raises(ValueError, match="path"):
        training.train_population(QUAD, _sgd, {"learning_rate": np.ones(2)}, 5, 1, path="pmap")
    with pytest.raises(ValueError, match="numeric"):
        training.train_population(QUAD, _adam, {"learning_rate": np.ones(2), "b1": np.ones(3)}, 5, 1)
    with pytest.raises(ValueError, match="eval_split"):
        training.train(QUAD, optax.sgd(0.1), 5, 1, eval_split="valid")


def test_auto_path_choice():
    assert training.choose_path(QUAD, 16, 4) == "vmap"
    assert training.choose_path(ImageMLP(dataset="mnist"), 16, 4) == "loop"
    assert training.choose_path(ImageMLP(dataset="mnist"), 16, 4, backend="gpu") == "vmap"
    assert training.choose_path(ImageMLP(dataset="mnist"), 1, 1) == "vmap"


def test_optimizers_that_need_the_loss_receive_it():
    seen = []

    def make(h):
        def init(params):
            return optax.EmptyState()

        def update(g, state, params=None, *, value, **extra):
            seen.append(value)
            return jax.tree.map(lambda x: -0.1 * x, g), state

        return optax.GradientTransformationExtraArgs(init, update)

    result = training.train_population(QUAD, make, {}, 5, 1, 5)
    assert seen and result.train_loss.shape == (1, 1, 5)
