"""Where data lives, and the one error type every loader raises.

The data directory is found, in order, from (1) an explicit ``data_dir`` argument, (2) the environment
variable ``OPTSEARCH_DATA_DIR``, (3) the repository's sibling ``../shared/data`` (the offline copies kept
for tests: the real MNIST test set). Each dataset lives in a subdirectory named after it (``mnist``,
``fashion_mnist``, ``cifar10``; a few common aliases are accepted).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DATA_DIR_ENV", "DataError", "default_data_dir", "resolve_data_dir", "dataset_dir"]

DATA_DIR_ENV = "OPTSEARCH_DATA_DIR"

_ALIASES: dict[str, tuple[str, ...]] = {
    "mnist": ("mnist", "MNIST"),
    "fashion_mnist": ("fashion_mnist", "fashion-mnist", "FashionMNIST", "fashion"),
    "cifar10": ("cifar10", "cifar-10", "cifar-10-batches-bin", "cifar10/cifar-10-batches-bin"),
}


class DataError(ValueError):
    """A data directory or file is missing or malformed (the message names the file and the expectation)."""


def default_data_dir() -> Path:
    """The shipped data directory: ``<repository>/../shared/data``."""
    return Path(__file__).resolve().parents[2].parent / "shared" / "data"


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The data directory: ``data_dir``, else ``$OPTSEARCH_DATA_DIR``, else :func:`default_data_dir`."""
    if data_dir is not None:
        path = Path(data_dir).expanduser()
        source = "data_dir argument"
    elif os.environ.get(DATA_DIR_ENV):
        path = Path(os.environ[DATA_DIR_ENV]).expanduser()
        source = f"${DATA_DIR_ENV}"
    else:
        path = default_data_dir()
        source = "the shipped data directory"
    if not path.is_dir():
        raise DataError(f"data directory {path} (from {source}) does not exist or is not a directory")
    return path


def dataset_dir(name: str, data_dir: str | os.PathLike | None = None) -> Path:
    """The subdirectory of the data directory that holds dataset ``name`` (raises :class:`DataError`)."""
    if name not in _ALIASES:
        raise DataError(f"dataset: unknown image dataset {name!r}; known: {sorted(_ALIASES)}")
    base = resolve_data_dir(data_dir)
    for alias in _ALIASES[name]:
        candidate = base / alias
        if candidate.is_dir():
            return candidate
    expected = ", ".join(str(base / a) for a in _ALIASES[name])
    raise DataError(f"dataset {name!r}: no directory found; expected one of: {expected}")
