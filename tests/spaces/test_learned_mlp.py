"""The learned-MLP space: the weight vector as the point, the default weights, export and load."""

from __future__ import annotations

import json
import math

import numpy as np

import optimizers
from optimizers.learned_mlp import default_weights, layer_sizes, num_weights
from spaces import SPACES
from spaces.learned_mlp import MLPWeights
from tests.spaces.helpers import trajectory


def test_points_hold_every_weight_and_the_paper_point_is_the_default_weights():
    space = SPACES["learned_mlp"]
    assert space.dimension == 1 + num_weights((32, 32)) == 1763  # step_mult + 19*32+32+32*32+32+32*2+2
    point = space.paper_points["normalised_momentum"]
    assert point["weights"] == default_weights((32, 32)).tolist()
    assert point["hidden_sizes"] == [32, 32] and point["step_mult"] == 1e-3
    small = SPACES["learned_mlp_small"]
    assert small.dimension == 1 + num_weights((8, 8)) == 251
    assert small.paper_points["normalised_momentum_8x8"]["weights"] == default_weights((8, 8)).tolist()


def test_genes_are_the_weights_and_round_trip_exactly():
    space = SPACES["learned_mlp_small"]
    x = np.random.default_rng(0).normal(size=space.dimension) * 3.0
    point = space.decode(x)
    assert point["weights"] == x[1:].tolist()
    assert np.array_equal(space.encode(point), np.concatenate([space.encode(point)[:1], x[1:]]))
    assert space.signature(point) == space.signature(space.center())


def test_sample_is_mlplopt_initialisation():
    space = SPACES["learned_mlp_small"]
    weights = np.asarray(space.sample(3)["weights"])
    offset = 0
    sizes = layer_sizes((8, 8))
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        w = weights[offset : offset + fan_in * fan_out]
        b = weights[offset + fan_in * fan_out : offset + fan_in * fan_out + fan_out]
        assert np.all(np.abs(w) <= 2.0 / math.sqrt(fan_in)) and np.all(b == 0.0)
        assert 0.5 < np.std(w) * math.sqrt(fan_in) < 1.2
        offset += fan_in * fan_out + fan_out
    assert offset == weights.size


def test_a_searched_point_exports_and_loads_like_any_optimizer(tmp_path):
    space = SPACES["learned_mlp_small"]
    point = space.sample(5)
    path = optimizers.export(space.to_spec(point), tmp_path / "best.json", provenance={"space": space.name})
    assert json.loads(path.read_text())["hyperparameters"]["weights"] == point["weights"]
    np.testing.assert_array_equal(trajectory(optimizers.load(path), 10), trajectory(space.build(point), 10))


def test_weights_param_json_round_trip():
    param = MLPWeights.for_sizes((8, 8))
    again = MLPWeights.from_json(json.loads(json.dumps(param.to_json())))
    assert again == param
