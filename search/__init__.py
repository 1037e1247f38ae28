"""The meta-search: strategies, evaluators (local, Ray), the run loop, the SQLite store, reports, the CLI.

``search`` is the only package that touches Ray, SQLite, argparse and progress bars. Its submodules are
imported lazily so that ``import search`` (and ``optsearch --version``) stays cheap:

* :mod:`search.config` - TOML run configurations parsed into frozen, validated dataclasses;
* :mod:`search.strategies` - ask/tell strategies over ``R^D`` (evosax wrappers, random search, grid);
* :mod:`search.evaluators` - scoring candidates on a suite, in-process or on Ray actors;
* :mod:`search.store` - the per-run SQLite store (WAL mode) and crash-safe files;
* :mod:`search.run` - :class:`~search.run.Run`, the generation loop with checkpoints and resume;
* :mod:`search.report` - plots and ``report.md``;
* :mod:`search.cli` - the ``optsearch`` console script.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "version", "config", "strategies", "evaluators", "store", "run", "report", "cli"]

_SUBMODULES = frozenset({"config", "strategies", "evaluators", "store", "run", "report", "cli"})


def version() -> str:
    """The installed distribution's version, or :data:`__version__` when running from a source tree."""
    from importlib import metadata

    try:
        return metadata.version("optsearch")
    except metadata.PackageNotFoundError:
        return __version__


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"search.{name}")
    raise AttributeError(f"module 'search' has no attribute {name!r}")
