"""Configs: TOML into frozen validated dataclasses; every bad config is one line, exit code 2, nothing written."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

from search.cli import main
from search.config import (
    Config,
    StrategyConfig,
    config_hash,
    config_to_toml,
    load_config,
    parse_config,
    resolve_inside,
)

ROOT = Path(__file__).resolve().parents[2]

GOOD = """
[run]
name = "t"
seed = 3

[space]
name = "adam"
init = "paper:default"

[suite]
name = "toy"
num_seeds = 1
tasks = ["rosenbrock_d2"]
steps_scale = 0.1

[strategy]
name = "cma_es"
population_size = 4
num_generations = 2
"""


def test_a_good_config_parses_into_frozen_dataclasses_with_defaults(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(GOOD)
    config = load_config(path)
    assert isinstance(config, Config)
    assert config.run.seed == 3 and config.space.init == "paper:default"
    assert config.suite.tasks == ("rosenbrock_d2",)
    assert config.evaluator.kind == "ray" and config.evaluator.num_workers == 2
    assert config.run_dir() == Path("runs") / "t"
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.run.seed = 4  # type: ignore[misc]


def test_resolved_toml_round_trips_exactly():
    config = parse_config(
        tomllib.loads(GOOD + "\n[fidelity]\nenabled = true\nscreen_fraction = 0.3\n"),
        overrides={"strategy.sigma": 1e-05},
    )
    text = config_to_toml(config)
    again = parse_config(tomllib.loads(text))
    assert again == config
    assert config_hash(again) == config_hash(config)


def test_hash_ignores_where_and_how_long_but_not_what():
    base = parse_config(tomllib.loads(GOOD))
    moved = parse_config(
        tomllib.loads(GOOD),
        overrides={"run.dir": "elsewhere", "evaluator.kind": "local", "strategy.num_generations": 9},
    )
    other = parse_config(tomllib.loads(GOOD), overrides={"strategy.sigma": 0.25})
    assert config_hash(base) == config_hash(moved)
    assert config_hash(base) != config_hash(other)


BAD = [
    (
        "[strategy]\npopsize = 4\n",
        "unknown key 'strategy.popsize'; allowed keys in [strategy]: name, population_size",
    ),
    ("[strategey]\nname = 'x'\n", "unknown section [strategey]; allowed sections: run, space"),
    (
        "[strategy]\npopulation_size = '8'\n",
        "strategy.population_size: must be an integer in [2, 100000], got string",
    ),
    (
        "[strategy]\npopulation_size = 1\n",
        "strategy.population_size: must be an integer in [2, 100000], got 1",
    ),
    ("[strategy]\npopulation_size = true\n", "strategy.population_size: must be an integer"),
    ("[strategy]\nsigma = 0\n", "strategy.sigma: must be a number in (0, 1e+06], got 0.0"),
    ("[strategy]\nsigma = nan\n", "strategy.sigma: must be a number"),
    ("[strategy]\nname = 'cmaes'\n", "strategy.name: must be one of cma_es, sep_cma_es, open_es"),
    ("[strategy]\nname = 'pgpe'\npopulation_size = 5\n", "strategy.population_size: pgpe samples antithetic"),
    ("[suite]\nauc_weight = 1.5\n", "suite.auc_weight: must be a number in [0, 1], got 1.5"),
    ("[suite]\ntasks = 'rosenbrock_d2'\n", "suite.tasks: expected an array of strings"),
    ("[suite]\nname = 'tyo'\n", "suite.name: unknown suite 'tyo'; known: toy, cpu-small"),
    ("[suite]\ntasks = ['nope']\n", "suite.tasks: suite 'toy' has no task 'nope'; known: "),
    ("[evaluator]\nkind = 'dask'\n", "evaluator.kind: must be one of ray, local; got 'dask'"),
    ("[evaluator]\nkind = 'local'\naddress = '127.0.0.2:6379'\n", "evaluator.address: only used with"),
    ("[evaluator]\npath = 'pmap'\n", "evaluator.path: must be one of auto, vmap, loop"),
    ("[fidelity]\nenabled = 'yes'\n", "fidelity.enabled: expected true or false, got string 'yes'"),
    (
        "[output]\ncache_dir = '../outside'\n",
        "output.cache_dir: a relative path must stay inside the run directory",
    ),
    ("[run]\nname = 'a b'\n", "run.name: must be letters, digits"),
    ("[run]\nseed = -1\n", "run.seed: must be an integer in [0, 2147483647], got -1"),
    ("run = 3\n", "run: expected a table ([run]), got integer 3"),
]


def _with_space(snippet: str, space: str = "\n[space]\nname = 'adam'\n") -> str:
    return snippet + space if "[space]" not in snippet else snippet


@pytest.mark.parametrize(("snippet", "message"), BAD)
def test_every_bad_config_names_the_key_and_the_allowed_values(tmp_path, snippet, message):
    path = tmp_path / "bad.toml"
    path.write_text(_with_space(snippet))
    with pytest.raises(ValueError) as err:
        load_config(path)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[run]\nname = 'x'\n", "space.name: required"),
        ("[space]\nname = 'nope'\n", "space.name: unknown space 'nope'; known: sgd"),
        (
            "[space]\nname = 'adam'\ninit = 'paper:nope'\n",
            "space.init: space 'adam' has no paper point 'nope'",
        ),
        ("[space]\nname = 'adam'\ninit = 'middle'\n", "space.init: must be 'center' or 'paper:<point name>'"),
        ("[space\nname = 'adam'\n", "not valid TOML"),
    ],
)
def test_space_errors(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=None) as err:
        load_config(path)
    assert message in str(err.value)


@pytest.mark.parametrize(("snippet", "message"), BAD[:6] + BAD[11:13])
def test_cli_run_with_a_bad_config_exits_2_with_one_line_and_writes_nothing(
    tmp_path, capsys, monkeypatch, snippet, message
):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "bad.toml"
    path.write_text(_with_space(snippet))
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["run", str(path), "--run-dir", str(tmp_path / "run")]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("optsearch: error: ")
    assert message in lines[0]
    assert "Traceback" not in captured.err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written: no run dir, no runs/


def test_cli_run_with_a_missing_config_file(tmp_path, capsys):
    assert main(["run", str(tmp_path / "missing.toml")]) == 2
    assert "config file not found" in capsys.readouterr().err


def test_resolve_inside_keeps_relative_paths_in_the_run_directory(tmp_path):
    assert resolve_inside(tmp_path, "cache/x", key="k") == tmp_path / "cache" / "x"
    assert resolve_inside(tmp_path, "a/../b", key="k") == tmp_path / "a" / ".." / "b"
    assert resolve_inside(tmp_path, "/abs/dir", key="k") == Path("/abs/dir")
    with pytest.raises(ValueError, match="k: a relative path must stay inside"):
        resolve_inside(tmp_path, "a/../../b", key="k")


def test_shipped_configs_are_valid():
    paths = sorted((ROOT / "configs").glob("*.toml"))
    assert any(p.name == "quickstart.toml" for p in paths)
    for path in paths:
        config = load_config(path)
        assert isinstance(config.strategy, StrategyConfig)
