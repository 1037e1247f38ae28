"""Properties of every registered space: round trips, validity of any decoded vector, registry bounds,
the signature/numeric split (no structural value ever travels as a traced value), and paper points."""

from __future__ import annotations

import json
import pickle

import jax
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import optimizers
from optimizers.registry import REGISTRY
from spaces import SPACES, Choice, Fixed, Float, Int, get_space, make_space
from spaces.params import GENE_LIMIT
from spaces.space import SearchSpace
from tests.spaces.helpers import assert_values_close, make_params, run_steps

NAMES = list(SPACES)
finite = st.floats(allow_nan=False, allow_infinity=False)
PROPERTY = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def gene_vectors(draw, dimension: int):
    """Arbitrary finite vectors: directly drawn for small spaces; for large ones a seeded normal vector
    (of a drawn scale) with drawn entries, huge values included, written over a few drawn positions."""
    if dimension <= 96:
        return draw(hnp.arrays(np.float64, dimension, elements=finite))
    seed = draw(st.integers(0, 2**32 - 1))
    scale = draw(st.sampled_from([1e-3, 1.0, 30.0, 1e300]))
    x = np.random.default_rng(seed).normal(size=dimension) * scale
    overrides = draw(st.lists(st.tuples(st.integers(0, dimension - 1), finite), max_size=20))
    for index, value in overrides:
        x[index] = value
    return x


def _check_valid(space, point) -> None:
    """A point is valid: the space accepts it and the optimizer registry accepts its spec."""
    assert space.validate(point) == point
    spec = space.to_spec(point)
    json.dumps(spec, allow_nan=False)
    checked = optimizers.validate_spec(spec)
    assert checked["family"] == space.family


def test_every_optimizer_family_has_a_space():
    families = {space.family for space in SPACES.values()}
    assert families == set(REGISTRY), f"families without a space: {sorted(set(REGISTRY) - families)}"


@pytest.mark.parametrize("name", NAMES)
def test_decode_of_any_finite_vector_is_valid_and_round_trips(name):
    space = SPACES[name]

    @PROPERTY
    @given(gene_vectors(space.dimension))
    def check(x):
        point = space.decode(x)
        _check_valid(space, point)
        genes = space.encode(point)
        assert genes.shape == (space.dimension,) and np.all(np.isfinite(genes))
        assert_values_close(space.decode(genes), point, rtol=1e-9)

    check()


@pytest.mark.parametrize("name", NAMES)
def test_sampled_extreme_and_paper_points_round_trip(name):
    space = SPACES[name]
    points = [space.sample(seed) for seed in range(5)]
    points += [space.sample(jax.random.key(3)), space.sample(jax.random.PRNGKey(4)), space.center()]
    for fill in (GENE_LIMIT, -GENE_LIMIT, 1e300, -1e300):
        points.append(space.decode(np.full(space.dimension, fill)))
    points += list(space.paper_points.values())
    for point in points:
        _check_valid(space, point)
        assert_values_close(space.decode(space.encode(point)), point, rtol=1e-9)
    assert space.sample(7) == space.sample(7)


@pytest.mark.parametrize("name", NAMES)
def test_space_bounds_lie_inside_the_registry_bounds(name):
    space = SPACES[name]
    declared = {hp.name: hp for hp in REGISTRY[space.family].hyperparameters}
    for param in space.params:
        for key in param.keys:
            assert key in declared, f"{key} is not a hyperparameter of {space.family}"
        hp = declared.get(param.name)
        if isinstance(param, Float):
            assert hp.check(param.low) == param.low and hp.check(param.high) == param.high
            assert hp.kind == "float"
        elif isinstance(param, Int):
            hp.check(param.low), hp.check(param.high)
        elif isinstance(param, Choice):
            for option in param.options:
                hp.check(param.check(option))


@pytest.mark.parametrize("name", NAMES)
def test_numeric_values_are_traceable_floats_and_structure_is_in_the_signature(name):
    space = SPACES[name]
    declared = {hp.name: hp for hp in REGISTRY[space.family].hyperparameters}
    rng = np.random.default_rng(0)
    mask = space.structural_mask()
    assert mask.shape == (space.dimension,)
    for _ in range(4):
        x = rng.normal(size=space.dimension) * 2.0
        point = space.decode(x)
        numeric = space.numeric(point)
        for key, value in numeric.items():
            assert type(value) is float
            top = key.split(".")[0]
            # Scalar numeric values must be declared traceable ("float"); composite entries (the numbers
            # inside a json hyperparameter such as propagators or weights) are documented as traceable.
            assert declared[top].kind in ("float", "json"), key
        for param in space.params:
            if isinstance(param, (Choice, Int, Fixed)) or (isinstance(param, Float) and param.static):
                assert param.name not in numeric
        # Moving only the numeric genes keeps the signature; every structural value is unchanged.
        y = np.where(mask, x, rng.normal(size=space.dimension) * 3.0)
        other = space.decode(y)
        assert space.signature(other) == space.signature(point)
        assert list(space.numeric(other)) == list(numeric)
        for param in space.params:
            if isinstance(param, (Choice, Int, Fixed)):
                assert other[param.name] == point[param.name]
        # The builder rebuilds exactly the point's hyperparameters from the numeric values.
        builder = space.builder(space.signature(point))
        assert builder is space.builder(space.signature(point))
        assert builder.hyperparameters(numeric) == space.hyperparameters(point)


@pytest.mark.parametrize("name", [n for n in NAMES if any(isinstance(p, Choice) for p in SPACES[n].params)])
def test_changing_a_structural_gene_changes_the_signature_when_the_structure_changes(name):
    space = SPACES[name]
    choices = [p for p in space.params if isinstance(p, Choice)]
    base = space.center()
    for param in choices:
        for option in param.options:
            point = dict(base, **{param.name: param.check(option)})
            same = param.check(option) == base[param.name]
            assert (space.signature(point) == space.signature(base)) == same


def _points_for_tracing(space) -> list[dict]:
    """A paper point (or the centre) and, if the space has structure, a sample of another signature."""
    first = next(iter(space.paper_points.values()), None) or space.center()
    others = [space.sample(seed) for seed in range(20)]
    others = [p for p in others if space.signature(p) != space.signature(first)]
    # The smallest structure keeps the compilation short (e.g. few memory units for linear_memory).
    return [first] + sorted(others, key=lambda p: len(space.numeric(p)))[:1]


# learned_mlp is learned_mlp_small with wider layers (same parameter classes, 7x the traced inputs).
@pytest.mark.parametrize("name", [n for n in NAMES if n != "learned_mlp"])
def test_builder_under_jit_matches_build_without_branching_on_tracers(name):
    space = SPACES[name]
    for index, point in enumerate(_points_for_tracing(space)):
        builder = space.builder(space.signature(point))
        numeric = {k: np.float64(v) for k, v in space.numeric(point).items()}
        built = space.build(point)

        @jax.jit
        def run(values, builder=builder, built=built):
            # Numeric values arrive as tracers: an optimizer that branched on one would fail here.
            return run_steps(builder(values), make_params(), 5), run_steps(built, make_params(), 5)

        traced, constant = run(numeric)
        for a, b in zip(jax.tree.leaves(traced), jax.tree.leaves(constant), strict=True):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-7, atol=1e-12, err_msg=name)
            if index == 0:  # a random sample may diverge; the paper point must not
                assert np.all(np.isfinite(np.asarray(a)))


@pytest.mark.parametrize("name", NAMES)
def test_paper_points_are_the_published_arguments_exactly(name):
    space = SPACES[name]
    entry = REGISTRY[space.family]
    for point_name, arguments in space.paper_arguments.items():
        point = space.paper_points[point_name]
        spec = space.to_spec(point)
        for key, value in arguments.items():
            if key in spec:
                if isinstance(value, str) and not isinstance(spec[key], str):
                    continue  # a named value materialised (e.g. initial_law "e1"); see the bit-for-bit test
                assert json.dumps(spec[key]) == json.dumps(_plain(value)), (point_name, key)
            else:
                assert value == entry.defaults[key], (point_name, key)
        if point_name in entry.presets:
            assert dict(entry.presets[point_name]) == arguments


@pytest.mark.parametrize("name", NAMES)
def test_build_of_each_paper_point_equals_the_constructor_bit_for_bit(name):
    space = SPACES[name]
    entry = REGISTRY[space.family]
    names = list(space.paper_arguments)
    ours = [space.build(space.paper_points[n]) for n in names]
    published = [entry.constructor(**space.paper_arguments[n]) for n in names]

    @jax.jit
    def run(params):  # one program: every point's trajectory, ours and the constructor's
        return [(run_steps(a, params, 15), run_steps(b, params, 15)) for a, b in zip(ours, published)]

    for point_name, (a, b) in zip(names, run(make_params())):
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y), err_msg=f"{name}/{point_name}")
            assert np.all(np.isfinite(np.asarray(x)))


@pytest.mark.parametrize("name", NAMES)
def test_paper_points_export_and_load_back_as_their_spec(name, tmp_path):
    space = SPACES[name]
    for point_name, point in space.paper_points.items():
        path = optimizers.export(space.to_spec(point), tmp_path / f"{point_name}.json")
        loaded = optimizers.load_spec(path)
        assert space.point_from_hyperparameters({k: v for k, v in loaded.items() if k != "family"}) == point


@pytest.mark.parametrize("name", NAMES)
def test_describe_lists_parameters_dimension_and_paper_points(name):
    space = SPACES[name]
    text = space.describe()
    assert f"dimension {space.dimension}" in text
    for param in space.params:
        assert param.name in text
    for point_name in space.paper_points:
        assert point_name in text
    assert len(space.gene_labels()) == space.dimension


def _plain(value):
    return json.loads(json.dumps(value))


# -- the generic machinery on a hand-made space ------------------------------------------------------------


def _adam_space(**kwargs) -> SearchSpace:
    params = (Float("learning_rate", 1e-5, 1e-1, log=True), Float("b1", 0.0, 0.99, log=True, complement=True))
    return make_space("adam_test", "adam", params, **kwargs)


def test_space_errors_name_the_offending_field():
    space = _adam_space()
    with pytest.raises(ValueError, match="b2: not a parameter of space 'adam_test'"):
        space.validate({"learning_rate": 1e-3, "b1": 0.9, "b2": 0.99})
    with pytest.raises(ValueError, match="b1: missing"):
        space.validate({"learning_rate": 1e-3})
    with pytest.raises(ValueError, match=r"x: expected shape \(2,\)"):
        space.decode(np.zeros(3))
    with pytest.raises(ValueError, match="x: genes must be finite"):
        space.decode(np.asarray([0.0, np.nan]))
    with pytest.raises(ValueError, match="signature: not a signature of space 'adam_test'"):
        space.builder("adam:{}")
    with pytest.raises(ValueError, match="signature: 'eps' is not a parameter"):
        space.builder('adam_test:{"eps":1}')
    with pytest.raises(ValueError, match="signature: b1: has no structural part"):
        space.builder('adam_test:{"b1":0.5}')
    lm = SPACES["linear_memory"]
    with pytest.raises(ValueError, match="signature: propagators: expected 1 to 4"):
        lm.builder("linear_memory:{}")
    with pytest.raises(ValueError, match=r"signature: propagators: \['jordan', 9\] is not"):
        lm.builder('linear_memory:{"propagators":[["jordan",9]]}')
    with pytest.raises(ValueError, match="signature: no_prox: must be one of"):
        SPACES["adan"].builder('adan:{"no_prox":"maybe"}')
    with pytest.raises(ValueError, match="learning_rate: missing from the numeric values"):
        space.builder(space.signature(space.center()))({"b1": 0.9})
    with pytest.raises(ValueError, match="space: unknown search space 'nope'"):
        get_space("nope")
    with pytest.raises(ValueError, match="family: 'nope' is not in optimizers.REGISTRY"):
        make_space("x", "nope", ())
    with pytest.raises(ValueError, match="learning_rate: outside the registry"):
        make_space("x", "adam", (Float("learning_rate", 0.0, 1.0),))
    with pytest.raises(ValueError, match="eps_typo: space 'x' names no hyperparameter"):
        make_space("x", "adam", (Float("eps_typo", 1e-9, 1e-7, log=True),))
    with pytest.raises(ValueError, match="paper point 'p': b2: not represented in space"):
        _adam_space(presets=False, points={"p": {"b2": 0.95}})
    with pytest.raises(ValueError, match=r"paper point 'p': learning_rate: must be in"):
        _adam_space(presets=False, points={"p": {"learning_rate": 0.5}})


def test_paper_points_complete_presets_with_registry_defaults():
    space = _adam_space()
    point = space.paper_points["kingma2014"]
    assert point == {"learning_rate": 1e-3, "b1": 0.9}
    assert space.to_spec(point) == {"family": "adam", "learning_rate": 1e-3, "b1": 0.9}
    # Not represented but at its default: allowed (b2 and eps of the preset equal the defaults).
    assert "b2" in REGISTRY["adam"].presets["kingma2014"]


def test_spaces_and_builders_pickle_for_other_processes():
    for name in ("linear_memory", "frankenstein", "learned_mlp_small"):
        space = SPACES[name]
        point = space.sample(1)
        builder = space.builder(space.signature(point))
        copy = pickle.loads(pickle.dumps(builder))
        assert copy == builder and copy.hyperparameters(space.numeric(point)) == space.hyperparameters(point)
        again = pickle.loads(pickle.dumps(space))
        assert again == space and again.paper_points == space.paper_points
        assert again.decode(space.encode(point)) == space.decode(space.encode(point))


def test_builders_are_cached_hashable_and_compare_by_value():
    space = _adam_space()
    signature = space.signature(space.center())
    assert signature == "adam_test:{}"
    builder = space.builder(signature)
    assert space.builder(signature) is builder
    twin = _adam_space().builder(signature)
    assert twin == builder and hash(twin) == hash(builder) and twin is not builder
    assert set(builder.numeric_keys) == {"learning_rate", "b1"}


def test_get_space_and_registry_listing():
    assert get_space("adan") is SPACES["adan"]
    from spaces import describe_spaces

    text = describe_spaces(["adan", "linear_memory"])
    assert "adan" in text and "linear_memory" in text and "paper points" in text
