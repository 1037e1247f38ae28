"""Run configurations: TOML (``tomllib``) parsed into frozen, validated dataclasses.

A config has seven tables; every key is optional except ``space.name``::

    [run]        name, seed, dir
    [space]      name, init ("center" or "paper:<point>")
    [suite]      name, num_seeds, tasks, steps_scale, auc_weight
    [strategy]   name, population_size, num_generations, sigma, learning_rate, sigma_decay, points_per_dim
    [evaluator]  kind ("ray" | "local"), address, num_workers, cpus_per_worker, max_retries, path, chunk_size
    [fidelity]   enabled, screen_fraction, promote_fraction
    [output]     keep_checkpoints, report, curves, cache_dir

Validation happens in two steps, both before anything is written: :func:`parse_config` checks keys, types
and ranges (pure, no imports of the other packages); :func:`check_references` checks the names that refer
to the registries (the space and its paper points, the suite and its tasks, the strategy). Every error is
one ``ValueError`` whose message starts with the dotted key and names the allowed values, for example::

    strategy.population_size: must be an integer in [2, 100000], got 1
    unknown key 'strategy.popsize'; allowed keys in [strategy]: name, population_size, ...

Paths: ``run.dir`` is relative to the working directory; every other path (``output.cache_dir``) is
relative to the run directory and may not leave it unless it is absolute.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import tomllib
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

__all__ = [
    "Config",
    "RunConfig",
    "SpaceConfig",
    "SuiteConfig",
    "StrategyConfig",
    "EvaluatorConfig",
    "FidelityConfig",
    "OutputConfig",
    "parse_config",
    "load_config",
    "check_references",
    "config_to_toml",
    "config_to_dict",
    "config_hash",
    "resolve_inside",
]


def _field(default: Any, kind: str, *, low=None, high=None, low_open=False, choices=None, doc=""):
    """A dataclass field with its validation rule in ``metadata``."""
    meta = {"kind": kind, "low": low, "high": high, "low_open": low_open, "choices": choices, "doc": doc}
    if isinstance(default, tuple):
        return dataclasses.field(default=default, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


_REQUIRED = object()


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """``[run]``: naming, the master seed and where the run directory goes."""

    name: str = _field("run", "name", doc="run name (letters, digits, '-', '_', '.')")
    seed: int = _field(
        0, "int", low=0, high=2**31 - 1, doc="master seed: every random stream derives from it"
    )
    dir: str = _field("", "path", doc="run directory; default runs/<name>")


@dataclasses.dataclass(frozen=True)
class SpaceConfig:
    """``[space]``: which search space, and the strategy's initial mean."""

    name: str = _field(_REQUIRED, "str", doc="search space (optsearch list spaces)")
    init: str = _field("center", "str", doc="'center' or 'paper:<paper point>'")


@dataclasses.dataclass(frozen=True)
class SuiteConfig:
    """``[suite]``: the inner tasks every candidate is scored on."""

    name: str = _field("toy", "str", doc="suite (optsearch list suites)")
    num_seeds: int = _field(2, "int", low=1, high=1024, doc="seeds per task")
    tasks: tuple[str, ...] = _field((), "str_list", doc="subset of the suite's tasks (default all)")
    steps_scale: float = _field(1.0, "float", low=0.0, high=100.0, low_open=True, doc="multiplies budgets")
    auc_weight: float = _field(0.0, "float", low=0.0, high=1.0, doc="fitness = (1-w) final + w auc")


@dataclasses.dataclass(frozen=True)
class StrategyConfig:
    """``[strategy]``: the ask/tell strategy over the space's encoding."""

    name: str = _field("cma_es", "strategy", doc="strategy (optsearch list strategies)")
    population_size: int = _field(8, "int", low=2, high=100_000, doc="candidates per generation")
    num_generations: int = _field(10, "int", low=1, high=10_000_000, doc="generations to run")
    sigma: float = _field(0.5, "float", low=0.0, high=1e6, low_open=True, doc="initial std in encoding")
    learning_rate: float = _field(0.0, "float", low=0.0, high=1e6, doc="mean learning rate (0: default)")
    sigma_decay: float = _field(0.0, "float", low=0.0, high=1.0, doc="per-generation std decay (0: default)")
    points_per_dim: int = _field(5, "int", low=1, high=10_000, doc="grid: points per dimension")


@dataclasses.dataclass(frozen=True)
class EvaluatorConfig:
    """``[evaluator]``: where candidates are trained."""

    kind: str = _field("ray", "str", choices=("ray", "local"), doc="ray (default) or local (in-process)")
    address: str = _field("", "str", doc="existing Ray cluster HOST:PORT; empty: embedded instance")
    num_workers: int = _field(2, "int", low=1, high=100_000, doc="Ray actors")
    cpus_per_worker: float = _field(1.0, "float", low=0.0, high=1024.0, low_open=True, doc="CPUs per actor")
    max_retries: int = _field(2, "int", low=0, high=100, doc="re-sends of a failed candidate")
    path: str = _field("auto", "str", choices=("auto", "vmap", "loop"), doc="train_population path")
    chunk_size: int = _field(1, "int", low=1, high=100_000, doc="candidates per work unit (padded to it)")


@dataclasses.dataclass(frozen=True)
class FidelityConfig:
    """``[fidelity]``: successive halving (screen short, re-evaluate the best at full budget)."""

    enabled: bool = _field(False, "bool", doc="screen each generation on a short budget first")
    screen_fraction: float = _field(
        0.25, "float", low=0.0, high=1.0, low_open=True, doc="budget of the screen"
    )
    promote_fraction: float = _field(
        0.5, "float", low=0.0, high=1.0, low_open=True, doc="fraction re-evaluated at full budget"
    )


@dataclasses.dataclass(frozen=True)
class OutputConfig:
    """``[output]``: checkpoints, report and caches."""

    keep_checkpoints: int = _field(3, "int", low=1, high=1_000_000, doc="checkpoints kept")
    report: bool = _field(True, "bool", doc="write report/ when the run finishes")
    curves: bool = _field(True, "bool", doc="report: re-train best/paper points/reference for curves")
    cache_dir: str = _field("", "path", doc="tuned-reference cache (default: the inner_tasks default)")


@dataclasses.dataclass(frozen=True)
class Config:
    """A whole run configuration."""

    run: RunConfig = dataclasses.field(default_factory=RunConfig)
    space: SpaceConfig = dataclasses.field(default_factory=lambda: SpaceConfig(name=""))
    suite: SuiteConfig = dataclasses.field(default_factory=SuiteConfig)
    strategy: StrategyConfig = dataclasses.field(default_factory=StrategyConfig)
    evaluator: EvaluatorConfig = dataclasses.field(default_factory=EvaluatorConfig)
    fidelity: FidelityConfig = dataclasses.field(default_factory=FidelityConfig)
    output: OutputConfig = dataclasses.field(default_factory=OutputConfig)

    def run_dir(self) -> Path:
        """The run directory: ``run.dir`` or ``runs/<run.name>``."""
        return Path(self.run.dir) if self.run.dir else Path("runs") / self.run.name

    def replace(self, **sections: Any) -> Config:
        return dataclasses.replace(self, **sections)


_SECTIONS: dict[str, type] = {
    "run": RunConfig,
    "space": SpaceConfig,
    "suite": SuiteConfig,
    "strategy": StrategyConfig,
    "evaluator": EvaluatorConfig,
    "fidelity": FidelityConfig,
    "output": OutputConfig,
}


def _strategy_names() -> tuple[str, ...]:
    from search.strategies import STRATEGIES

    return tuple(STRATEGIES)


def _type_name(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "float", str: "string", list: "array", dict: "table"}.get(
        type(value), type(value).__name__
    )


def _range(meta: Mapping[str, Any], integer: bool) -> str:
    low, high = meta["low"], meta["high"]
    fmt = (lambda v: str(int(v))) if integer else (lambda v: f"{v:g}")
    left = "(" if meta["low_open"] else "["
    return f"{left}{fmt(low)}, {fmt(high)}]"


def _check_value(key: str, value: Any, meta: Mapping[str, Any]) -> Any:
    kind = meta["kind"]
    if kind in ("str", "name", "path", "strategy"):
        if not isinstance(value, str):
            raise ValueError(f"{key}: expected a string, got {_type_name(value)} {value!r}")
        if kind == "name" and (
            not value or not value[0].isalnum() or not all(c.isalnum() or c in "-_." for c in value)
        ):  # the first character a letter or digit: "." or ".." would make runs/<name> leave runs/
            raise ValueError(
                f"{key}: must be letters, digits, '-', '_' or '.', starting with a letter or digit; got {value!r}"
            )
        choices = meta["choices"] or (_strategy_names() if kind == "strategy" else None)
        if choices is not None and value not in choices:
            raise ValueError(f"{key}: must be one of {', '.join(choices)}; got {value!r}")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"{key}: expected true or false, got {_type_name(value)} {value!r}")
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(
                f"{key}: must be an integer in {_range(meta, True)}, got {_type_name(value)} {value!r}"
            )
        if not meta["low"] <= value <= meta["high"]:
            raise ValueError(f"{key}: must be an integer in {_range(meta, True)}, got {value!r}")
        return value
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(
                f"{key}: must be a number in {_range(meta, False)}, got {_type_name(value)} {value!r}"
            )
        value = float(value)
        low_ok = value > meta["low"] if meta["low_open"] else value >= meta["low"]
        if not math.isfinite(value) or not low_ok or value > meta["high"]:
            raise ValueError(f"{key}: must be a number in {_range(meta, False)}, got {value!r}")
        return value
    if kind == "str_list":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"{key}: expected an array of strings, got {value!r}")
        if len(set(value)) != len(value):
            raise ValueError(f"{key}: names must be unique, got {value!r}")
        return tuple(value)
    raise AssertionError(kind)  # pragma: no cover - the field table above is closed


def _parse_section(name: str, cls: type, table: Any) -> Any:
    if not isinstance(table, dict):
        raise ValueError(f"{name}: expected a table ([{name}]), got {_type_name(table)} {table!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in table:
        if key not in fields:
            raise ValueError(f"unknown key '{name}.{key}'; allowed keys in [{name}]: {', '.join(fields)}")
    values = {}
    for key, f in fields.items():
        if key in table:
            values[key] = _check_value(f"{name}.{key}", table[key], f.metadata)
        elif f.default is _REQUIRED:
            raise ValueError(f"{name}.{key}: required ({f.metadata['doc']})")
    return cls(**values)


def _apply_overrides(raw: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in raw.items()}
    for dotted, value in overrides.items():
        section, _, key = dotted.partition(".")
        table = out.setdefault(section, {})
        if not isinstance(table, dict):
            raise ValueError(f"{section}: expected a table ([{section}]), got {_type_name(table)}")
        table[key] = value
    return out


def parse_config(raw: Mapping[str, Any], overrides: Mapping[str, Any] | None = None) -> Config:
    """Validate a parsed TOML document (keys, types, ranges); raises one ``ValueError`` naming the key."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"config: expected a table, got {_type_name(raw)}")
    raw = _apply_overrides(dict(raw), overrides or {})
    for section in raw:
        if section not in _SECTIONS:
            raise ValueError(f"unknown section [{section}]; allowed sections: {', '.join(_SECTIONS)}")
    if "space" not in raw:
        raise ValueError("space.name: required ([space] name = ..., see optsearch list spaces)")
    sections = {name: _parse_section(name, cls, raw.get(name, {})) for name, cls in _SECTIONS.items()}
    config = Config(**sections)
    _check_consistency(config)
    return config


def _check_consistency(config: Config) -> None:
    init = config.space.init
    if init != "center" and not (init.startswith("paper:") and len(init) > len("paper:")):
        raise ValueError(f"space.init: must be 'center' or 'paper:<point name>', got {init!r}")
    if config.evaluator.address and config.evaluator.kind != "ray":
        raise ValueError("evaluator.address: only used with evaluator.kind = 'ray'")
    if config.output.cache_dir:
        resolve_inside(Path("."), config.output.cache_dir, key="output.cache_dir")
    from search.strategies import check_strategy_config

    check_strategy_config(config.strategy)


def resolve_inside(run_dir: Path, path: str, *, key: str) -> Path:
    """``path`` if absolute, else ``run_dir / path``; a relative path may not leave ``run_dir``."""
    p = Path(path)
    if p.is_absolute():
        return p
    parts = PurePosixPath(p.as_posix()).parts
    depth = 0
    for part in parts:
        depth += -1 if part == ".." else (0 if part == "." else 1)
        if depth < 0:
            raise ValueError(f"{key}: a relative path must stay inside the run directory, got {path!r}")
    return run_dir / p


def load_config(path: Path, overrides: Mapping[str, Any] | None = None) -> Config:
    """Read and validate a TOML config file (keys, types, ranges, and the registry names)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(2, "config file not found", str(path))
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise ValueError(
            f"{path}: not UTF-8 text (byte {err.start}: {err.reason}); a config is TOML"
        ) from None
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{path}: not valid TOML: {err}") from None
    config = parse_config(raw, overrides)
    check_references(config)
    return config


def check_references(config: Config) -> None:
    """Check the names that refer to registries: space, paper point, suite, tasks (``ValueError``)."""
    from inner_tasks import SUITES
    from spaces import SPACES

    if config.space.name not in SPACES:
        raise ValueError(f"space.name: unknown space {config.space.name!r}; known: {', '.join(SPACES)}")
    space = SPACES[config.space.name]
    if config.space.init.startswith("paper:"):
        point = config.space.init.removeprefix("paper:")
        if point not in space.paper_points:
            known = ", ".join(f"paper:{p}" for p in space.paper_points) or "(none)"
            raise ValueError(f"space.init: space {space.name!r} has no paper point {point!r}; known: {known}")
    if config.suite.name not in SUITES:
        raise ValueError(f"suite.name: unknown suite {config.suite.name!r}; known: {', '.join(SUITES)}")
    names = [e.task.name for e in SUITES[config.suite.name].entries]
    for task in config.suite.tasks:
        if task not in names:
            raise ValueError(
                f"suite.tasks: suite {config.suite.name!r} has no task {task!r}; known: {', '.join(names)}"
            )


def config_to_dict(config: Config) -> dict[str, dict[str, Any]]:
    """The config as nested plain dicts (tuples as lists), every default filled in."""
    out: dict[str, dict[str, Any]] = {}
    for name in _SECTIONS:
        section = getattr(config, name)
        out[name] = {
            f.name: list(v) if isinstance(v := getattr(section, f.name), tuple) else v
            for f in dataclasses.fields(section)
        }
    return out


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        text = repr(value)
        return text if any(c in text for c in ".en") else text + ".0"
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
        return f'"{escaped}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def config_to_toml(config: Config) -> str:
    """The resolved config as TOML text; ``parse_config(tomllib.loads(text)) == config``."""
    lines = ["# optsearch run configuration, as resolved (every default filled in)."]
    for name, table in config_to_dict(config).items():
        lines.append("")
        lines.append(f"[{name}]")
        lines.extend(f"{key} = {_toml_value(value)}" for key, value in table.items())
    return "\n".join(lines) + "\n"


def config_hash(config: Config) -> str:
    """SHA-256 of the canonical TOML of ``config`` with ``run.dir`` and the evaluator left out.

    Two configs with the same hash produce the same search: the directory, where candidates are trained
    (evaluator kind, address, workers) and how long the run goes on (``strategy.num_generations``, which
    ``resume --generations`` may extend) are left out; ``evaluator.chunk_size`` and ``evaluator.path`` stay
    in, because they fix the shape of the compiled programs and so the last bits of the scores.
    """
    canonical = dataclasses.replace(
        config,
        run=dataclasses.replace(config.run, dir=""),
        strategy=dataclasses.replace(config.strategy, num_generations=1),
        evaluator=EvaluatorConfig(chunk_size=config.evaluator.chunk_size, path=config.evaluator.path),
    )
    return hashlib.sha256(config_to_toml(canonical).encode()).hexdigest()
