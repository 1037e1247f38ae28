"""Suites: names, lookup errors, lazy data, disjointness of the held-out suite, cheap package import."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import inner_tasks
from inner_tasks import Suite, SuiteEntry
from inner_tasks.char_lm import CharLM
from inner_tasks.image import ImageClassifier, ResNet20
from inner_tasks.quadratic import Quadratic

REQUIRED = ("toy", "cpu-small", "mnist", "lj", "heldout", "gpu")


def test_required_suites_exist_with_budgets():
    for name in REQUIRED:
        suite = inner_tasks.get_suite(name)
        assert suite.name == name and suite.description and suite.entries
        for entry in suite.entries:
            assert entry.num_steps >= 1 and 1 <= entry.eval_every <= entry.num_steps


def test_unknown_suite_error_names_it_and_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown suite 'tiny'.*toy.*cpu-small.*heldout"):
        inner_tasks.get_suite("tiny")


def test_heldout_is_disjoint_from_cpu_small():
    train = inner_tasks.get_suite("cpu-small")
    held = inner_tasks.get_suite("heldout")
    assert not set(train.tasks) & set(held.tasks)
    assert not {t.name for t in train.tasks} & {t.name for t in held.tasks}
    assert held.seed != train.seed

    # other architectures: no held-out network configuration appears in cpu-small
    def models(suite):
        nets = [t for t in suite.tasks if isinstance(t, (ImageClassifier, CharLM))]
        return {
            (type(t), getattr(t, "hidden", None), getattr(t, "channels", None), getattr(t, "model", None))
            for t in nets
        }

    assert models(held) and not models(held) & models(train)
    # other data: held-out reads MNIST, which cpu-small does not
    datasets = lambda s: {t.dataset for t in s.tasks if isinstance(t, ImageClassifier)}  # noqa: E731
    assert datasets(held) - datasets(train)


def test_gpu_suite_has_resnet20_and_cpu_suites_do_not():
    assert any(isinstance(t, ResNet20) for t in inner_tasks.get_suite("gpu").tasks)
    for name in ("toy", "cpu-small", "mnist", "lj", "heldout"):
        assert not any(isinstance(t, ResNet20) for t in inner_tasks.get_suite(name).tasks)


def test_toy_is_data_free_and_cpu_small_has_real_data():
    assert all(t.load_datasets() is None for t in inner_tasks.get_suite("toy").tasks)
    kinds = {type(t) for t in inner_tasks.get_suite("cpu-small").tasks}
    assert CharLM in kinds and any(issubclass(k, ImageClassifier) for k in kinds)


def test_suite_keys_depend_on_the_suite_seed():
    import jax
    import numpy as np

    a = inner_tasks.get_suite("cpu-small").keys(3)
    b = inner_tasks.get_suite("heldout").keys(3)
    assert a.shape == (3,)
    assert not np.array_equal(jax.random.key_data(a), jax.random.key_data(b))


def test_suite_validation():
    with pytest.raises(ValueError, match="entries"):
        Suite("empty", "nothing", ())
    with pytest.raises(ValueError, match="num_steps"):
        SuiteEntry(Quadratic(), 0, 1)
    with pytest.raises(ValueError, match="task"):
        SuiteEntry("quadratic", 10, 1)


def test_import_is_cheap_and_respects_the_import_direction():
    code = textwrap.dedent(
        """
        import sys
        import inner_tasks
        from inner_tasks import base
        suites = inner_tasks.SUITES
        assert not base._DATASETS_CACHE, "data loaded at import"
        banned = [m for m in ("optimizers", "spaces", "search", "sklearn", "torch", "learned_optimization")
                  if m in sys.modules]
        assert not banned, banned
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
