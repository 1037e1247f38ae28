"""Small shared helpers for task modules (dtype names, validation)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

__all__ = ["DTYPES", "as_dtype", "check_dtype", "check_int", "check_positive"]

DTYPES = ("float32", "float64", "bfloat16")


def check_dtype(name: str) -> str:
    """Return ``name`` if it is a supported parameter dtype name, else raise ``ValueError``."""
    if name not in DTYPES:
        raise ValueError(f"dtype: expected one of {DTYPES}, got {name!r}")
    return name


def as_dtype(name: str) -> np.dtype:
    """The dtype called ``name`` (float64 only exists under ``jax_enable_x64``)."""
    return jnp.dtype(check_dtype(name))


def check_positive(field: str, value: float, *, allow_zero: bool = False) -> None:
    """Raise ``ValueError`` naming ``field`` unless ``value`` is positive (or zero if allowed)."""
    ok = value >= 0 if allow_zero else value > 0
    if not np.isfinite(value) or not ok:
        raise ValueError(f"{field}: must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")


def check_int(field: str, value: int, low: int) -> None:
    """Raise ``ValueError`` naming ``field`` unless ``value`` is an int >= ``low``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{field}: must be an integer >= {low}, got {value!r}")
