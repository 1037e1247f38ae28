"""The ``optsearch`` command line.

One table of subcommands, each parsing its own arguments and returning an exit code (the shape of
Optuna's ``cli.py``). A user error (unknown subcommand, bad argument, bad config, missing run
directory) prints one readable line plus the usage and exits with code 2; an unexpected failure prints one
line and exits with code 1. Tracebacks appear only with ``--debug``.

Subcommands::

    optsearch run CONFIG [--evaluator ray|local] [--address HOST:PORT] [--run-dir DIR]
    optsearch resume RUN_DIR [--evaluator ...] [--address ...]
    optsearch evaluate SPEC_OR_POINT --suite S [--space NAME] [--seeds N]
    optsearch export RUN_DIR [--rank N] -o FILE
    optsearch report RUN_DIR
    optsearch status RUN_DIR
    optsearch list optimizers|spaces|suites|strategies|runs [--format table|json]

Progress bars (rich, on stderr) accompany every long operation; ``--no-progress`` or the environment
variable ``OPTSEARCH_NO_PROGRESS=1`` turns them off.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

__all__ = ["main", "UsageError", "build_parser"]


class UsageError(Exception):
    """A mistake of the user's (bad argument, bad config): one line, the usage, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` that raises :class:`UsageError` instead of printing and exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, self)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple, dict)):
        text = json.dumps(value)
        return text if len(text) <= 40 else text[:37] + "..."
    return str(value)


def _range_text(hp: Any) -> str:
    if hp.kind == "choice":
        return " | ".join(str(c) for c in hp.choices or ())
    if hp.kind == "bool":
        return "true | false"
    if hp.kind == "json":
        return "json"
    if hp.low is None and hp.high is None:
        return ""
    lo = "-inf" if hp.low is None else _fmt(hp.low)
    hi = "inf" if hp.high is None else _fmt(hp.high)
    left = "(" if hp.low_exclusive or hp.low is None else "["
    right = ")" if hp.high_exclusive or hp.high is None else "]"
    return f"{left}{lo}, {hi}{right}"


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


def _print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for col in columns:
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*(str(v) for v in row))
    Console(file=sys.stdout, width=max(120, Console().width)).print(table)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


# --- list ----------------------------------------------------------------------------------------------


def _list_optimizers(args: argparse.Namespace) -> int:
    from optimizers import REGISTRY

    if args.format == "json":
        data = [
            {
                "family": entry.family,
                "summary": entry.summary,
                "reference": entry.reference,
                "needs_value": entry.needs_value,
                "step_size": entry.step_size,
                "presets": sorted(entry.presets),
                "hyperparameters": [
                    {
                        "name": hp.name,
                        "kind": hp.kind,
                        "default": _jsonable(hp.default),
                        "low": hp.low,
                        "high": hp.high,
                        "choices": _jsonable(list(hp.choices)) if hp.choices is not None else None,
                        "doc": hp.doc,
                    }
                    for hp in entry.hyperparameters
                ],
            }
            for entry in REGISTRY.values()
        ]
        _print_json(data)
        return 0
    rows = []
    for entry in REGISTRY.values():
        first = True
        for hp in entry.hyperparameters:
            rows.append(
                (
                    entry.family if first else "",
                    hp.name,
                    hp.kind,
                    _fmt(hp.default),
                    _range_text(hp),
                    hp.doc,
                )
            )
            first = False
        if first:
            rows.append((entry.family, "", "", "", "", entry.summary))
    _print_table(
        f"{len(REGISTRY)} optimizer families",
        ("family", "hyperparameter", "kind", "default", "range", "description"),
        rows,
    )
    return 0


def _list_spaces(args: argparse.Namespace) -> int:
    from spaces import SPACES

    if args.format == "json":
        _print_json(
            [
                {
                    "name": name,
                    "family": space.family,
                    "dimension": int(space.dimension),
                    "paper_points": sorted(space.paper_points),
                }
                for name, space in SPACES.items()
            ]
        )
        return 0
    rows = [
        (name, space.family, space.dimension, ", ".join(sorted(space.paper_points)))
        for name, space in SPACES.items()
    ]
    _print_table(f"{len(rows)} search spaces", ("space", "family", "dimension", "paper points"), rows)
    return 0


def _list_suites(args: argparse.Namespace) -> int:
    from inner_tasks import SUITES

    if args.format == "json":
        _print_json(
            [
                {
                    "name": name,
                    "description": suite.description,
                    "tasks": [
                        {"task": e.task.name, "num_steps": e.num_steps, "eval_every": e.eval_every}
                        for e in suite.entries
                    ],
                }
                for name, suite in SUITES.items()
            ]
        )
        return 0
    rows = [
        (
            name,
            len(suite.entries),
            ", ".join(f"{e.task.name}×{e.num_steps}" for e in suite.entries),
            suite.description,
        )
        for name, suite in SUITES.items()
    ]
    _print_table(f"{len(rows)} suites", ("suite", "tasks", "task×steps", "description"), rows)
    return 0


def _list_strategies(args: argparse.Namespace) -> int:
    from search.strategies import STRATEGIES

    if args.format == "json":
        _print_json([{"name": name, "summary": info.summary} for name, info in STRATEGIES.items()])
        return 0
    rows = [(name, info.summary) for name, info in STRATEGIES.items()]
    _print_table(f"{len(rows)} strategies", ("strategy", "description"), rows)
    return 0


def _list_runs(args: argparse.Namespace) -> int:
    from search.store import list_runs

    runs = list_runs(Path(args.root))
    if args.format == "json":
        _print_json(runs)
        return 0
    rows = [
        (
            r["run_dir"],
            r.get("space", ""),
            r.get("suite", ""),
            r.get("strategy", ""),
            r.get("generations", ""),
            _fmt(r["best_fitness"]) if r.get("best_fitness") is not None else "",
            r.get("state", ""),
        )
        for r in runs
    ]
    _print_table(
        f"{len(rows)} runs under {args.root}",
        ("run dir", "space", "suite", "strategy", "generations", "best", "state"),
        rows,
    )
    return 0


_LISTERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "optimizers": _list_optimizers,
    "spaces": _list_spaces,
    "suites": _list_suites,
    "strategies": _list_strategies,
    "runs": _list_runs,
}


def _cmd_list(args: argparse.Namespace) -> int:
    return _LISTERS[args.what](args)


# --- run / resume ----------------------------------------------------------------------------------------


def _cmd_run(args: argparse.Namespace) -> int:
    from search.config import load_config
    from search.run import Run

    config = load_config(Path(args.config), overrides=_overrides(args))
    run = Run(config, run_dir=Path(args.run_dir) if args.run_dir else None, config_path=Path(args.config))
    result = run.execute(progress=not args.no_progress)
    _summarize(result)
    return 0


def _cmd_resume(args: argparse.Namespace) -> int:
    from search.run import Run

    run = Run.resume(Path(args.run_dir), overrides=_overrides(args))
    result = run.execute(progress=not args.no_progress)
    _summarize(result)
    return 0


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if getattr(args, "evaluator", None):
        out["evaluator.kind"] = args.evaluator
    if getattr(args, "address", None):
        out["evaluator.address"] = args.address
        out.setdefault("evaluator.kind", "ray")
    if getattr(args, "workers", None) is not None:
        out["evaluator.num_workers"] = args.workers
    if getattr(args, "generations", None) is not None:
        out["strategy.num_generations"] = args.generations
    return out


def _summarize(result: Any) -> None:
    sys.stdout.write(
        f"run {result.run_id}: {result.generations} generations, best fitness {result.best_fitness:.6g}\n"
        f"run directory: {result.run_dir}\n"
    )


# --- evaluate / export / report / status ---------------------------------------------------------------


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from search.evaluators import evaluate_one

    outcome = evaluate_one(
        args.target,
        suite=args.suite,
        space=args.space,
        num_seeds=args.seeds,
        seed=args.seed,
        tasks=tuple(args.tasks or ()),
        steps_scale=args.steps_scale,
        cache_dir=Path(args.cache_dir) if args.cache_dir else None,
        progress=not args.no_progress,
    )
    if args.format == "json":
        _print_json(outcome)
        return 0
    rows = [
        (t["task"], _fmt(t["final"]), _fmt(t["auc"]), t["diverged"], t["status"]) for t in outcome["tasks"]
    ]
    _print_table(
        f"{outcome['family']} on suite {outcome['suite']}: fitness {outcome['fitness']:.6g}",
        ("task", "final (mean)", "auc (mean)", "diverged seeds", "status"),
        rows,
    )
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from search.run import export_best

    path = export_best(Path(args.run_dir), Path(args.output), rank=args.rank)
    sys.stdout.write(f"wrote {path}\n")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from search.report import write_report

    out = write_report(Path(args.run_dir), curves=not args.no_curves, progress=not args.no_progress)
    sys.stdout.write(f"wrote {out}\n")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    from search.store import run_status

    status = run_status(Path(args.run_dir))
    if args.format == "json":
        _print_json(status)
        return 0
    rows = [(k, _fmt(v)) for k, v in status.items() if not isinstance(v, (list, dict))]
    _print_table(f"run {status.get('run_id', '')}", ("field", "value"), rows)
    gens = status.get("generation_table") or []
    if gens:
        _print_table(
            "generations",
            ("generation", "best", "median", "ok", "diverged", "failed", "seconds"),
            [
                (
                    g["generation"],
                    _fmt(g["best"]),
                    _fmt(g["median"]),
                    g["ok"],
                    g["diverged"],
                    g["failed"],
                    _fmt(g["seconds"]),
                )
                for g in gens
            ],
        )
    return 0


# --- parser ----------------------------------------------------------------------------------------------


def _add_format(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("table", "json"), default="table", help="output format")


def _add_evaluator_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--evaluator", choices=("ray", "local"), help="override the config's evaluator")
    parser.add_argument("--address", help="join an existing Ray cluster at HOST:PORT (default: embedded)")
    parser.add_argument("--workers", type=int, help="number of Ray evaluation actors")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    """The ``optsearch`` argument parser (subcommands in :data:`_COMMANDS`)."""
    from search import version

    parser = _Parser(prog="optsearch", description="Evolutionary meta-search over optimizer designs.")
    parser.add_argument("--version", action="version", version=f"optsearch {version()}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("run", help="start a search from a TOML config")
    p.add_argument("config", help="TOML config file")
    p.add_argument("--run-dir", help="run directory (default: from the config)")
    p.add_argument("--generations", type=int, help="override strategy.num_generations")
    _add_evaluator_args(p)
    p.set_defaults(handler=_cmd_run)

    p = sub.add_parser("resume", help="continue an interrupted run exactly")
    p.add_argument("run_dir", help="run directory")
    p.add_argument("--generations", type=int, help="extend the run to this many generations")
    _add_evaluator_args(p)
    p.set_defaults(handler=_cmd_resume)

    p = sub.add_parser("evaluate", help="score one optimizer on a suite")
    p.add_argument("target", help="a paper point name, a point/spec JSON file, or a JSON object")
    p.add_argument("--suite", required=True, help="suite name (optsearch list suites)")
    p.add_argument("--space", help="space of a point or paper point (optsearch list spaces)")
    p.add_argument("--seeds", type=int, default=2, help="seeds per task (default 2)")
    p.add_argument("--seed", type=int, default=0, help="seed offset of the suite's inner-training keys")
    p.add_argument("--tasks", nargs="+", help="only these tasks of the suite")
    p.add_argument("--steps-scale", type=float, default=1.0, help="multiply the suite's budgets")
    p.add_argument("--cache-dir", help="tuned-reference cache directory")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    _add_format(p)
    p.set_defaults(handler=_cmd_evaluate)

    p = sub.add_parser("export", help="write a run's best optimizer as JSON")
    p.add_argument("run_dir", help="run directory")
    p.add_argument("--rank", type=int, default=1, help="1 = best, 2 = second best, ... (default 1)")
    p.add_argument("-o", "--output", required=True, help="output JSON file")
    p.set_defaults(handler=_cmd_export)

    p = sub.add_parser("report", help="write plots and report.md into RUN_DIR/report")
    p.add_argument("run_dir", help="run directory")
    p.add_argument("--no-curves", action="store_true", help="skip re-training for learning curves")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(handler=_cmd_report)

    p = sub.add_parser("status", help="show a run's progress (safe while it runs)")
    p.add_argument("run_dir", help="run directory")
    _add_format(p)
    p.set_defaults(handler=_cmd_status)

    p = sub.add_parser("list", help="list optimizers, spaces, suites, strategies or runs")
    p.add_argument("what", choices=tuple(_LISTERS), help="what to list")
    p.add_argument("--root", default="runs", help="for `list runs`: the folder holding run directories")
    _add_format(p)
    p.set_defaults(handler=_cmd_list)
    return parser


def _usage_of(parser: argparse.ArgumentParser | None) -> str:
    return (parser or build_parser()).format_usage()


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``optsearch`` with ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    parser = build_parser()
    try:
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help and --version exit 0 from inside argparse
            return int(exc.code or 0)
        if getattr(args, "handler", None) is None:
            raise UsageError("a command is required", parser)
        return int(args.handler(args))
    except UsageError as err:
        if debug:
            raise
        sub_parser = err.args[1] if len(err.args) > 1 else None
        sys.stderr.write(_usage_of(sub_parser))
        sys.stderr.write(f"optsearch: error: {err.args[0]}\n")
        return 2
    except (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError) as err:
        # Bad config, bad point, missing or busy run directory: the user's to fix.
        if debug:
            raise
        sys.stderr.write(f"optsearch: error: {_one_line(err)}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("optsearch: interrupted\n")
        return 130
    except Exception as err:  # noqa: BLE001 - the CLI's last line of defence; --debug shows the traceback
        if debug:
            raise
        sys.stderr.write(f"optsearch: error: {type(err).__name__}: {_one_line(err)} (rerun with --debug)\n")
        return 1


def _one_line(err: BaseException) -> str:
    text = str(err) if not isinstance(err, (FileNotFoundError, FileExistsError)) or not err.filename else None
    if text is None:
        text = f"{err.strerror or 'no such file'}: {err.filename}"
    return " ".join(text.split()) or type(err).__name__


if __name__ == "__main__":
    sys.exit(main())
