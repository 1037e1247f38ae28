"""The ``optsearch`` CLI: version, listings, and user errors as one line plus usage with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import search
from optimizers import REGISTRY
from search.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_version_prints_name_and_version(capsys):
    with pytest.raises(SystemExit) as exc:
        search.cli.build_parser().parse_args(["--version"])
    assert exc.value.code == 0
    capsys.readouterr()
    assert main(["--version"]) == 0
    out = capsys.readouterr().out.strip()
    assert out == f"optsearch {search.version()}"
    assert search.version().count(".") >= 1


def test_python_dash_m_search_runs_the_cli():
    proc = subprocess.run(
        [sys.executable, "-m", "search", "--version"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("optsearch ")
    bad = subprocess.run(
        [sys.executable, "-m", "search", "frobnicate"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr
    assert "usage: optsearch" in bad.stderr
    assert "invalid choice: 'frobnicate'" in bad.stderr


def test_list_optimizers_json_covers_every_family_and_hyperparameter(capsys):
    assert main(["list", "optimizers", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["family"] for d in data] == list(REGISTRY)
    for d in data:
        entry = REGISTRY[d["family"]]
        assert [h["name"] for h in d["hyperparameters"]] == [hp.name for hp in entry.hyperparameters]


def test_list_optimizers_table_names_every_family(capsys):
    assert main(["list", "optimizers"]) == 0
    out = capsys.readouterr().out
    assert "optimizer families" in out
    for family in REGISTRY:
        assert family in out


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["frobnicate"], "invalid choice"),
        ([], "a command is required"),
        (["list"], "the following arguments are required"),
        (["list", "widgets"], "invalid choice: 'widgets'"),
        (["list", "optimizers", "--format", "yaml"], "invalid choice: 'yaml'"),
        (["export", "somewhere"], "-o/--output"),
        (["run"], "config"),
        (["evaluate", "adam"], "--suite"),
        (["export", "x", "-o", "y", "--rank", "first"], "invalid int value"),
    ],
)
def test_bad_arguments_give_one_line_and_usage_with_exit_code_2(capsys, argv, needle):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert lines[0].startswith("usage: optsearch")
    assert lines[-1].startswith("optsearch: error: ")
    assert needle in lines[-1]
    assert "Traceback" not in captured.err


def test_missing_run_directory_is_a_user_error(tmp_path, capsys):
    assert main(["status", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("optsearch: error: ")
    assert "nope" in err[0]


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(FileNotFoundError):
        main(["--debug", "status", str(tmp_path / "nope")])
