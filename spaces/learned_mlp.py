"""The learned-optimizer space: the weight vector of the per-parameter MLP (and its step scale).

Optimizer: :func:`optimizers.learned_mlp.learned_mlp`, learned_optimization's ``MLPLOpt`` (Metz et al.,
arXiv:1810.10180): per element, the 19 features ``[g, p, m_0.1..m_0.9999]`` (each normalised by its RMS
over the tensor) and ``tanh(t/T − 1)`` go through an MLP ``19 → h_1 → … → 2`` (ReLU), and

    u = −step_mult · o_dir · exp(exp_mult · o_mag).

A point holds ``weights``, the flat weight vector (per layer ``W`` row-major, then ``b``), one gene per
weight with the identity map (an ES moves the weights directly, as learned_optimization trains learned
optimizers with ES), plus ``step_mult`` (log-scaled); ``hidden_sizes`` and ``exp_mult`` are fixed. The
all-zero gene vector (``center()``) is the zero MLP, which does not move; start a search from the paper
point ``normalised_momentum`` (hand-set weights of normalised 0.9-momentum descent; in the small space
``normalised_momentum_8x8``, the same construction at hidden sizes 8, 8) or from
``sample(key)`` (MLPLOpt's random initialisation: truncated normal with standard deviation
``1/√fan_in``, zero biases).

Spaces: ``learned_mlp`` (hidden sizes 32, 32: 1,762 weights, ALGORITHMS.md) and ``learned_mlp_small``
(hidden sizes 8, 8: 250 weights, "a few hundred numbers", a cheaper space for ES).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from optimizers import learned_mlp as lopt
from spaces.params import Fixed, Float, FloatVector
from spaces.space import SearchSpace, make_space

__all__ = ["MLPWeights", "learned_mlp_space"]


@dataclasses.dataclass(frozen=True)
class MLPWeights(FloatVector):
    """The flat MLP weights for ``hidden_sizes`` (identity genes; ``null`` reads as the default weights).

    ``sample`` draws MLPLOpt's initialisation: each ``W`` truncated normal on ``[−2, 2]`` divided by
    ``√fan_in``, biases 0.
    """

    hidden_sizes: tuple[int, ...] = (32, 32)
    type_name: ClassVar[str] = "mlp_weights"

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden_sizes", tuple(int(h) for h in self.hidden_sizes))
        expected = lopt.num_weights(self.hidden_sizes)
        if self.length != expected:
            raise ValueError(f"{self.name}.length: hidden sizes {list(self.hidden_sizes)} need {expected}")
        super().__post_init__()

    @classmethod
    def for_sizes(cls, hidden_sizes: tuple[int, ...], name: str = "weights") -> MLPWeights:
        return cls(name=name, length=lopt.num_weights(hidden_sizes), hidden_sizes=tuple(hidden_sizes))

    def from_hyperparameters(self, hyperparameters: Mapping[str, Any]) -> dict[str, Any]:
        if self.name not in hyperparameters:
            raise ValueError(f"{self.name}: missing")
        value = hyperparameters[self.name]
        if value is None:
            value = lopt.default_weights(self.hidden_sizes).tolist()
        return {self.name: self.check(value)}

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        sizes = lopt.layer_sizes(self.hidden_sizes)
        parts = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            w = rng.normal(size=fan_in * fan_out)
            while np.any(np.abs(w) > 2.0):
                bad = np.abs(w) > 2.0
                w[bad] = rng.normal(size=int(bad.sum()))
            parts += [w / math.sqrt(fan_in), np.zeros(fan_out)]
        return {self.name: [float(v) for v in np.concatenate(parts)]}

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "hidden_sizes": list(self.hidden_sizes)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MLPWeights:
        """Rebuild from :meth:`to_json` output."""
        if not isinstance(data, Mapping) or data.get("type") != cls.type_name:
            raise ValueError(f"type: expected {cls.type_name!r}")
        kwargs = {k: v for k, v in data.items() if k != "type"}
        kwargs["hidden_sizes"] = tuple(kwargs.get("hidden_sizes", (32, 32)))
        try:
            return cls(**kwargs)
        except TypeError as err:
            raise ValueError(f"{cls.type_name}: {err}") from None

    def describe_row(self) -> tuple[str, str, str]:
        sizes = " -> ".join(str(s) for s in lopt.layer_sizes(self.hidden_sizes))
        return (f"float[{self.length}]", f"MLP {sizes} weights, (-inf, inf)", "identity")


def _point_name(hidden_sizes: tuple[int, ...]) -> str:
    return "normalised_momentum_" + "x".join(str(h) for h in hidden_sizes)


def learned_mlp_space(hidden_sizes: tuple[int, ...] = (32, 32), name: str = "learned_mlp") -> SearchSpace:
    """The learned-MLP space for ``hidden_sizes`` (paper point: the normalised-momentum weights)."""
    hidden_sizes = tuple(hidden_sizes)
    default_sizes = tuple(lopt.ENTRIES[0].hyperparameter("hidden_sizes").default)
    return make_space(
        name,
        "learned_mlp",
        (
            Float("step_mult", 1e-5, 1e-1, log=True),
            Fixed("exp_mult", lopt.ENTRIES[0].hyperparameter("exp_mult").default),
            Fixed("hidden_sizes", list(hidden_sizes)),
            MLPWeights.for_sizes(hidden_sizes),
        ),
        presets=hidden_sizes == default_sizes,
        points=None
        if hidden_sizes == default_sizes
        else {_point_name(hidden_sizes): {"hidden_sizes": list(hidden_sizes)}},
        description=f"learned optimizer (MLPLOpt, arXiv:1810.10180), MLP hidden sizes {list(hidden_sizes)}",
    )
