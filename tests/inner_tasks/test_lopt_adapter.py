"""Tests of the learned_optimization adapter against the real package (learned-optimization 0.0.1).

The first tests need nothing installed (import side effects, the missing-package error). The rest are
``reference`` tests: they wrap upstream's quadratic tasks as ours and train them with ``inner_tasks``'
training loop, and expose our tasks to upstream's own test utilities, training loop (``eval_training``)
and outer trainers (truncated PES with ``SingleMachineGradientLearner``).
"""

from __future__ import annotations

import dataclasses
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from inner_tasks import lopt_adapter
from inner_tasks.base import Datasets, Task, check_split

ROOT = Path(__file__).resolve().parents[2]

needs_lopt = pytest.mark.skipif(
    not lopt_adapter.is_installed(),
    reason="learned_optimization not installed; install with: " + lopt_adapter.INSTALL_COMMANDS,
)


def _run_python(code: str) -> str:
    """Run ``code`` in a fresh interpreter at the repository root; return its stdout."""
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


# -- no package needed --------------------------------------------------------------------------------


def test_import_has_no_side_effects():
    out = _run_python(
        """
        import sys, jax
        import inner_tasks, inner_tasks.lopt_adapter
        print(sorted(m for m in sys.modules if m.split(".")[0] in
                     ("learned_optimization", "flax", "haiku", "gin", "tensorflow", "tqdm")))
        print(hasattr(jax, "tree_multimap"))
        """
    )
    assert out.split() == ["[]", "False"]


def test_missing_package_raises_one_import_error_with_the_commands(monkeypatch):
    monkeypatch.setattr(
        lopt_adapter, "_REQUIRED", lopt_adapter._REQUIRED + (("optsearch_no_such_module", "no-such-dist"),)
    )
    assert not lopt_adapter.is_installed()
    with pytest.raises(ImportError) as info:
        lopt_adapter._check_installed()
    message = str(info.value)
    assert "no-such-dist" in message
    assert lopt_adapter.INSTALL_COMMANDS in message


def test_install_commands_are_in_the_module_docstring():
    for line in lopt_adapter.INSTALL_COMMANDS.splitlines():
        assert line in lopt_adapter.__doc__


# -- helpers for the reference tests ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _LinearRegression(Task):
    """A small data task of ours: least squares ``mean((X w - y)^2) / 2`` on fixed random data."""

    dim: int = 4
    num_examples: int = 64
    batch_size: int = 8

    @property
    def name(self) -> str:
        return f"test_linreg_d{self.dim}"

    def init(self, key: jax.Array) -> jax.Array:
        return jax.random.normal(key, (self.dim,), jnp.float32)

    def loss(self, params: jax.Array, key: jax.Array, batch: Any) -> jax.Array:
        x, y = batch
        return 0.5 * jnp.mean((x @ params - y) ** 2)

    def load_datasets(self) -> Datasets:
        rng = np.random.RandomState(0)
        w = rng.standard_normal(self.dim).astype(np.float32)

        def split() -> tuple[jax.Array, jax.Array]:
            x = rng.standard_normal((self.num_examples, self.dim)).astype(np.float32)
            return jnp.asarray(x), jnp.asarray(x @ w)

        return Datasets(split(), split(), split(), split())

    def batch(self, key: jax.Array, split: str = "train", datasets: Datasets | None = None) -> Any:
        x, y = self._data(datasets).split(check_split(split))
        rows = jax.random.choice(key, self.num_examples, (self.batch_size,), replace=False)
        return x[rows], y[rows]


def _train(task: Task, opt: optax.GradientTransformation, num_steps: int, num_seeds: int = 2) -> Any:
    from inner_tasks.training import train

    keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(0), i))(jnp.arange(num_seeds))
    return train(task, opt, num_steps, keys, eval_every=num_steps)


@pytest.fixture(scope="module")
def lopt():
    return lopt_adapter.ensure_learned_optimization()


@pytest.fixture(scope="module")
def quadratics(lopt):
    from learned_optimization.tasks import quadratics

    return quadratics


# -- the compatibility layer --------------------------------------------------------------------------


@pytest.mark.reference
@needs_lopt
def test_ensure_restores_jax_aliases_and_leaves_no_stubs_behind(lopt):
    import importlib.util

    assert lopt_adapter.ensure_learned_optimization() is lopt
    assert jax.tree_map is jax.tree_util.tree_map
    assert jax.tree_leaves({"a": 1, "b": [2, 3]}) == [1, 2, 3]
    assert jax.ShapedArray((2,), jnp.float32).shape == (2,)
    assert jax.lib.xla_client.Device is jax.Device
    for name in ("tensorflow", "tensorflow_datasets", "tqdm"):
        module = sys.modules.get(name)
        assert not isinstance(module, lopt_adapter._StubModule), name
    # Other libraries probing for TensorFlow still see the truth (a stub would make this raise).
    importlib.util.find_spec("tensorflow")


@pytest.mark.reference
@needs_lopt
def test_tfds_dataset_task_raises_one_clear_error(lopt):
    if lopt_adapter._is_importable("tensorflow_datasets"):
        pytest.skip("TensorFlow Datasets is installed here")
    from learned_optimization.tasks.fixed import image_mlp

    with pytest.raises(lopt_adapter.LoptUnsupportedError, match="TensorFlow Datasets"):
        image_mlp.ImageMLP_FashionMnist8_Relu32()


# -- learned_optimization tasks as ours ---------------------------------------------------------------


@pytest.mark.reference
@needs_lopt
@pytest.mark.parametrize(("name", "contraction"), [("QuadraticTask", 2.0), ("SumQuadraticTask", 4.0)])
def test_wrapped_quadratic_trains_with_our_loop_at_the_exact_sgd_rate(quadratics, name, contraction):
    # sum(p^2) under SGD: p <- (1 - 2 lr) p; sum((a + b)^2): a + b <- (1 - 4 lr)(a + b).
    # So loss_t = (1 - c lr)^(2t) loss_0 whatever the initial parameters.
    upstream = getattr(quadratics, name)()
    task = lopt_adapter.from_lopt(upstream)
    assert task.datasets is None and task.name == f"lopt_{name}"
    lr, num_steps = 0.05, 40
    result = _train(task, optax.sgd(lr), num_steps)
    losses = np.asarray(result.train_loss, np.float64)
    assert losses.shape == (2, num_steps)
    ratio = losses / losses[:, :1]
    expected = (1 - contraction * lr) ** (2 * np.arange(num_steps))
    np.testing.assert_allclose(ratio, np.broadcast_to(expected, ratio.shape), rtol=1e-4)
    assert not np.any(np.asarray(result.diverged))


@pytest.mark.reference
@needs_lopt
def test_wrapped_task_calls_upstream_with_its_key_convention(quadratics):
    upstream = quadratics.NoisyQuadraticFamily(dim=6, cov=0.5).sample_task(jax.random.PRNGKey(3))
    task = lopt_adapter.from_lopt(upstream)
    key = jax.random.key(7)
    np.testing.assert_array_equal(task.init(key), upstream.init(jax.random.key_data(key)))
    params = task.init(key)
    noise_key = jax.random.key(11)
    ours = jax.grad(task.loss)(params, noise_key, None)
    theirs = jax.grad(upstream.loss)(params, jax.random.key_data(noise_key), ())
    np.testing.assert_array_equal(ours, theirs)
    other = jax.grad(task.loss)(params, jax.random.key(12), None)
    assert not np.allclose(ours, other)  # the loss key reaches the upstream noise
    np.testing.assert_allclose(task.loss(params, noise_key, None), upstream.loss(params, noise_key, ()))


@pytest.mark.reference
@needs_lopt
def test_wrapped_dataset_task_stores_batches_and_trains(quadratics):
    upstream = quadratics.FixedDimQuadraticFamilyData(5).sample_task(jax.random.PRNGKey(0))
    task = lopt_adapter.from_lopt(upstream, num_batches=16, label="lopt_fixed_dim_data")
    data = task.datasets
    assert isinstance(data, Datasets)
    for split in ("train", "inner_valid", "outer_valid", "test"):
        assert data.split(split).shape == (16,)
    assert len(np.unique(np.asarray(data.train))) == 16
    batch = task.batch(jax.random.key(1), "train")
    assert float(batch) in np.asarray(data.train).tolist()
    drawn = jax.vmap(lambda k: task.batch(k, "train"))(jax.random.split(jax.random.key(4), 200))
    assert len(np.unique(np.asarray(drawn))) == 16  # uniform over the stored batches: all 16 appear
    params = task.init(jax.random.key(2))
    np.testing.assert_allclose(
        task.loss(params, jax.random.key(3), batch), upstream.loss(params, None, batch)
    )
    # Upstream's aux passes through.
    _, aux = task.loss_and_aux(params, jax.random.key(3), batch)
    assert set(aux) == {"l1", "l2"}
    # evaluate = mean loss over the stored batches of the split.
    expected = np.mean([upstream.loss(params, None, b) for b in np.asarray(data.test)])
    np.testing.assert_allclose(task.evaluate(params, "test")["loss"], expected, rtol=1e-5)

    # SGD shrinks the quadratic part by 0.8^2 per step (to ~1e-11 here); what is left of the final loss is
    # the noise batch drawn at that step, one of the stored train values.
    result = _train(task, optax.sgd(0.1), 60)
    final = np.asarray(result.train_loss, np.float64)[:, -1]
    stored = np.asarray(data.train, np.float64)
    assert np.all(np.min(np.abs(final[:, None] - stored[None, :]), axis=1) < 1e-6)


@pytest.mark.reference
@needs_lopt
def test_wrapped_iterator_task_with_unused_data(quadratics):
    task = lopt_adapter.from_lopt(quadratics.BatchQuadraticTask(), num_batches=4)
    assert task.datasets.train.shape == (4, 4, 2)
    assert task.datasets.train.dtype == jnp.float32
    result = _train(task, optax.sgd(0.5), 5)
    losses = np.asarray(result.train_loss)
    assert np.all(losses[:, 0] > 0.1) and np.all(losses[:, -1] == 0.0)  # one step of lr 1/2 solves sum(p^2)


@pytest.mark.reference
@needs_lopt
def test_fingerprint_is_stable_and_tells_configurations_apart(quadratics):
    family = quadratics.FixedDimQuadraticFamily(4)
    a, b = (lopt_adapter.from_lopt_family(family, jax.random.key(i)) for i in (0, 1))
    assert a.name == "lopt_FixedDimQuadraticFamily"
    assert a.fingerprint() != b.fingerprint()  # they differ only in the target closed over by task_fn
    assert a != b and a == a
    same = lopt_adapter.from_lopt_family(family, jax.random.key(0))
    assert same.fingerprint() == a.fingerprint()
    dims = {lopt_adapter.from_lopt(quadratics.QuadraticTask(d)).fingerprint() for d in (10, 20)}
    assert len(dims) == 2
    out = _run_python(
        """
        from inner_tasks import lopt_adapter
        lopt_adapter.ensure_learned_optimization()
        from learned_optimization.tasks import quadratics
        print(lopt_adapter.from_lopt(quadratics.QuadraticTask(10)).fingerprint())
        """
    )
    assert out.strip() == lopt_adapter.from_lopt(quadratics.QuadraticTask(10)).fingerprint()


@pytest.mark.reference
@needs_lopt
def test_wrapped_task_unpickles_in_a_fresh_process(quadratics):
    task = lopt_adapter.from_lopt(quadratics.QuadraticTask(6), label="q6")
    params = task.init(jax.random.key(0))
    payload = pickle.dumps((task, np.asarray(params)))
    code = f"""
        import pickle
        import jax
        jax.config.update("jax_enable_x64", True)
        task, params = pickle.loads({payload!r})
        print(task.name, repr(float(task.loss(params, jax.random.key(0), None))))
        """
    name, value = _run_python(code).split()
    assert name == "q6"
    assert float(value) == float(task.loss(params, jax.random.key(0), None))


@pytest.mark.reference
@needs_lopt
def test_wrapping_rejects_bad_input(lopt, quadratics):
    from learned_optimization.tasks import base as lopt_base

    with pytest.raises(ValueError, match="lopt"):
        lopt_adapter.from_lopt(object())
    with pytest.raises(ValueError, match="num_batches"):
        lopt_adapter.from_lopt(quadratics.QuadraticTask(), num_batches=0)

    class _Stateful(lopt_base.Task):
        def init_with_state(self, key):
            return jnp.zeros(3), {"count": jnp.zeros(())}

    with pytest.raises(ValueError, match="model state"):
        lopt_adapter.from_lopt(_Stateful()).init(jax.random.key(0))


# -- our tasks as learned_optimization tasks ----------------------------------------------------------


@pytest.mark.reference
@needs_lopt
def test_exposed_tasks_pass_upstream_smoke_tests(lopt):
    from learned_optimization.tasks import base as lopt_base
    from learned_optimization.tasks import test_utils

    from inner_tasks.quadratic import Quadratic

    quadratic = lopt_adapter.to_lopt(Quadratic(dim=5, noise_std=0.1))
    assert isinstance(quadratic, lopt_base.Task)
    assert isinstance(quadratic, lopt_adapter.lopt_task_class())
    assert quadratic.name == Quadratic(dim=5, noise_std=0.1).name and quadratic.datasets is None
    test_utils.smoketest_task(quadratic)

    regression = lopt_adapter.to_lopt(_LinearRegression(), seed=3)
    abstract = regression.datasets.abstract_batch
    assert [x.shape for x in abstract] == [(8, 4), (8,)]
    first, second = next(regression.datasets.train), next(regression.datasets.train)
    assert first[0].shape == (8, 4) and not np.array_equal(first[0], second[0])
    # Batches are rows of our task's stored split.
    x_train = np.asarray(_LinearRegression().datasets.train[0])
    assert all(any(np.array_equal(row, r) for r in x_train) for row in np.asarray(first[0]))
    test_utils.smoketest_task(regression, abstract_data=True)
    test_utils.smoketest_task(regression, abstract_data=False)
    family = lopt_adapter.to_lopt_family(_LinearRegression())
    test_utils.smoketest_task_family(family)

    clone = pickle.loads(pickle.dumps(regression))
    assert clone.task == regression.task and clone.seed == 3


@pytest.mark.reference
@needs_lopt
def test_upstream_training_loop_on_an_exposed_task(lopt):
    from learned_optimization import eval_training
    from learned_optimization.optimizers import base as opt_base

    from inner_tasks.quadratic import Quadratic

    # Condition number 1: H = I, so SGD contracts x - c by (1 - lr) per step and the loss by (1 - lr)^2.
    task = lopt_adapter.to_lopt(Quadratic(dim=6, condition_number=1.0))
    lr, num_steps = 0.1, 20
    curves = eval_training.single_task_training_curves(
        task,
        opt_base.SGD(lr),
        num_steps,
        jax.random.PRNGKey(0),
        eval_every=10,
        eval_batches=1,
        last_eval_batches=1,
    )
    losses = np.asarray(curves["train/loss"], np.float64)
    assert losses.shape == (num_steps + 1,)
    np.testing.assert_allclose(losses / losses[0], (1 - lr) ** (2 * np.arange(num_steps + 1)), rtol=1e-4)
    # Its evaluations at steps 0, 10, 20 see the same (noise-free) loss as the training curve.
    np.testing.assert_allclose(curves["eval/train/loss"], losses[::10], rtol=1e-6)


@pytest.mark.slow  # ~10 s of compilation alone; over 20 s on a loaded 2-core machine
@pytest.mark.reference
@needs_lopt
def test_upstream_training_loop_on_an_exposed_data_task(lopt):
    from learned_optimization import eval_training
    from learned_optimization.optimizers import base as opt_base

    # A real data task of ours (an MLP on scikit-learn's bundled 8x8 digits): its batches stream through
    # upstream's iterators and its accuracy arrives through loss_and_aux.
    image = pytest.importorskip("inner_tasks.image")
    digits = lopt_adapter.to_lopt(image.ImageMLP(dataset="digits", hidden=(32,), batch_size=32))
    curves = eval_training.single_task_training_curves(
        digits,
        opt_base.Adam(3e-3),
        60,
        jax.random.PRNGKey(1),
        eval_every=30,
        eval_batches=4,
        last_eval_batches=4,
    )
    eval_loss, accuracy = np.asarray(curves["eval/test/loss"]), np.asarray(curves["eval/test/accuracy"])
    assert eval_loss[-1] < 0.5 * eval_loss[0]
    assert accuracy[-1] > 0.6 > accuracy[0]


@pytest.mark.slow  # ~10 s of compilation alone; over 20 s on a loaded 2-core machine
@pytest.mark.reference
@needs_lopt
def test_upstream_outer_training_on_an_exposed_task(lopt):
    from learned_optimization.learned_optimizers import base as lopt_learned
    from learned_optimization.optimizers import base as opt_base
    from learned_optimization.outer_trainers import gradient_learner, truncated_pes, truncation_schedule

    from inner_tasks.quadratic import Quadratic

    family = lopt_adapter.to_lopt_family(Quadratic(dim=4, condition_number=10.0))
    learned = lopt_learned.LearnableSGD(initial_lr=0.01)
    with jax.enable_x64(False):  # upstream's outer trainers only trace in 32-bit mode
        estimator = truncated_pes.TruncatedPES(
            family,
            learned,
            truncation_schedule.ConstantTruncationSchedule(40),
            num_tasks=2,
            trunc_length=10,
            steps_per_jit=10,
        )
        learner = gradient_learner.SingleMachineGradientLearner(learned, [estimator], opt_base.Adam(0.05))
        state = learner.init(jax.random.PRNGKey(0))
        theta0 = float(learner.get_lopt_params(state)["log_lr"])
        outer_losses = []
        for i in range(4):
            state, loss, _ = learner.update(state, jax.random.PRNGKey(i + 1))
            outer_losses.append(float(loss))
        theta = float(learner.get_lopt_params(state)["log_lr"])
    assert np.all(np.isfinite(outer_losses))
    # At lr 0.01 the inner loss falls faster with a larger step: the outer step must raise log_lr.
    assert theta > theta0
