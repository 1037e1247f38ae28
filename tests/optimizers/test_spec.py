"""The optimizer spec: build, export and load, and every way a spec or a file can be wrong."""

from __future__ import annotations

import json
import pickle

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optimizers


def _write(path, document) -> str:
    path.write_text(json.dumps(document))
    return str(path)


def _good_document(**overrides):
    spec = optimizers.validate_spec({"family": "adam", "learning_rate": 3e-3}, fill_defaults=True)
    spec.pop("family")
    document = {"format": "optsearch-optimizer", "version": 1, "family": "adam", "hyperparameters": spec}
    document.update(overrides)
    return document


def test_build_equals_direct_optax():
    opt = optimizers.build({"family": "adam", "learning_rate": 1e-2})
    reference = optax.adam(1e-2)
    params = jnp.arange(5.0)
    grads = jnp.linspace(-1.0, 1.0, 5)
    u1, _ = opt.update(grads, opt.init(params), params)
    u2, _ = reference.update(grads, reference.init(params), params)
    np.testing.assert_array_equal(np.asarray(u1), np.asarray(u2))


def test_export_writes_complete_file_and_loads(tmp_path):
    path = optimizers.export({"family": "adam", "learning_rate": 3e-3}, tmp_path / "a.json", {"run": "x"})
    document = json.loads(path.read_text())
    assert document["format"] == "optsearch-optimizer" and document["version"] == 1
    assert document["provenance"] == {"run": "x"}
    declared = {hp.name for hp in optimizers.REGISTRY["adam"].hyperparameters}
    assert set(document["hyperparameters"]) == declared
    assert optimizers.load_spec(path)["learning_rate"] == 3e-3
    assert isinstance(optimizers.load(path), optax.GradientTransformation)


def test_export_leaves_no_temporary_files(tmp_path):
    optimizers.export({"family": "adam"}, tmp_path / "a.json")
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"learning_rate": 1e-3}, "family"),
        ({"family": "no_such_optimizer"}, "family"),
        ({"family": "__import__('os')"}, "family"),
        ({"family": 3}, "family"),
        ({"family": "adam", "lr": 1e-3}, "lr"),
        ({"family": "adam", "learning_rate": "fast"}, "learning_rate"),
        ({"family": "adam", "learning_rate": float("nan")}, "learning_rate"),
        ({"family": "adam", "learning_rate": float("inf")}, "learning_rate"),
        ({"family": "adam", "learning_rate": -1.0}, "learning_rate"),
        ({"family": "adam", "learning_rate": True}, "learning_rate"),
    ],
)
def test_build_rejects_bad_specs_naming_the_field(spec, field):
    with pytest.raises(ValueError, match=field) as info:
        optimizers.build(spec)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.update(format="something-else"), "format"),
        (lambda d: d.update(version=2), "version"),
        (lambda d: d.update(version=True), "version"),
        (lambda d: d.pop("family"), "family"),
        (lambda d: d.update(family="__import__('os')"), "family"),
        (lambda d: d.update(hyperparameters=[1, 2]), "hyperparameters"),
        (lambda d: d["hyperparameters"].pop("b1"), "b1"),
        (lambda d: d["hyperparameters"].update(b1=1.5), "b1"),
        (lambda d: d["hyperparameters"].update(learning_rate="x"), "learning_rate"),
        (lambda d: d["hyperparameters"].update(surprise=1.0), "surprise"),
        (lambda d: d.update(extra=1), "extra"),
        (lambda d: d.update(provenance="me"), "provenance"),
    ],
)
def test_load_rejects_bad_files_naming_the_field(tmp_path, mutate, field):
    document = _good_document()
    mutate(document)
    path = _write(tmp_path / "bad.json", document)
    with pytest.raises(ValueError, match=field) as info:
        optimizers.load(path)
    assert "\n" not in str(info.value)


def test_load_rejects_malformed_json(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"format": "optsearch-optimizer", "version": 1,')
    with pytest.raises(ValueError, match="malformed JSON at line 1"):
        optimizers.load(path)


def test_load_rejects_non_finite_constants(tmp_path):
    document = json.dumps(_good_document()).replace('"learning_rate": 0.003', '"learning_rate": NaN')
    path = tmp_path / "nan.json"
    path.write_text(document)
    with pytest.raises(ValueError, match="NaN"):
        optimizers.load(path)


def test_load_refuses_a_pickle_renamed_json(tmp_path):
    marker = tmp_path / "executed"
    path = tmp_path / "evil.json"
    # A pickle that would run code if it were unpickled: load must never unpickle.
    path.write_bytes(pickle.dumps({"family": "adam", "note": str(marker)}))
    with pytest.raises(ValueError, match="binary content"):
        optimizers.load(path)
    assert not marker.exists()


def test_load_of_missing_file_names_the_path(tmp_path):
    with pytest.raises(ValueError, match="nowhere.json"):
        optimizers.load(tmp_path / "nowhere.json")


def test_top_level_must_be_an_object(tmp_path):
    path = _write(tmp_path / "list.json", [1, 2, 3])
    with pytest.raises(ValueError, match="JSON object"):
        optimizers.load(path)


def test_build_accepts_traced_numeric_values():
    @jax.jit
    def step(lr, params, grads):
        opt = optimizers.build({"family": "adam", "learning_rate": lr})
        updates, _ = opt.update(grads, opt.init(params), params)
        return updates

    params, grads = jnp.ones(3), jnp.asarray([0.5, -1.0, 2.0])
    a = step(jnp.asarray(1e-3), params, grads)
    b = step(jnp.asarray(2e-3), params, grads)
    np.testing.assert_allclose(np.asarray(b), 2 * np.asarray(a), rtol=1e-12)
    assert step._cache_size() == 1


def test_cannot_export_a_traced_value(tmp_path):
    def f(lr):
        optimizers.export({"family": "adam", "learning_rate": lr}, tmp_path / "t.json")
        return lr

    with pytest.raises(ValueError, match="learning_rate"):
        jax.jit(f)(jnp.asarray(1e-3))
