"""Optimizer specs: build a transform from a JSON-able dict, and the safe JSON export format.

A *spec* is a flat dict ``{"family": name, **hyperparameters}``; :func:`build` validates it against the
family's declaration in :data:`optimizers.REGISTRY` and calls the constructor. The file format written by
:func:`export` and read by :func:`load` is plain JSON::

    {"format": "optsearch-optimizer", "version": 1, "family": "adan",
     "hyperparameters": {"learning_rate": 0.001, ...}, "provenance": {...}}

Loading never executes code: the file is parsed with :func:`json.loads` (binary content such as a pickle
is refused before parsing), the family is looked up in the registry by exact name, and every
hyperparameter is checked by kind and range. Any problem raises one :class:`ValueError` whose message
names the offending field.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optax

from optimizers.registry import REGISTRY, OptimizerEntry

__all__ = ["FORMAT", "VERSION", "build", "export", "load", "load_spec", "validate_spec", "entry_for"]

FORMAT = "optsearch-optimizer"
VERSION = 1
_MAX_BYTES = 64 * 1024 * 1024


def entry_for(family: Any) -> OptimizerEntry:
    """The registry entry of ``family``, or a ``ValueError`` naming the known families."""
    if not isinstance(family, str) or family not in REGISTRY:
        known = ", ".join(sorted(REGISTRY))
        raise ValueError(f"family: unknown optimizer family {family!r}; known families: {known}")
    return REGISTRY[family]


def validate_spec(spec: Mapping[str, Any], *, fill_defaults: bool = False) -> dict[str, Any]:
    """Check a spec dict and return a normalised copy (``{"family": ..., **hyperparameters}``).

    Every hyperparameter must be declared by the family; numbers must be finite and inside the declared
    range. With ``fill_defaults`` the missing hyperparameters are filled with their defaults (the
    result is then complete, as :func:`export` writes it). Numeric values that are JAX arrays (traced
    or not) pass through unchecked, so :func:`build` can be used inside ``jit``/``vmap``.
    """
    if not isinstance(spec, Mapping):
        raise ValueError(f"spec: expected a mapping with a 'family' key, got {type(spec).__name__}")
    if "family" not in spec:
        raise ValueError("family: missing (a spec is {'family': name, **hyperparameters})")
    entry = entry_for(spec["family"])
    declared = {hp.name: hp for hp in entry.hyperparameters}
    out: dict[str, Any] = {"family": entry.family}
    for name, value in spec.items():
        if name == "family":
            continue
        if name not in declared:
            allowed = ", ".join(declared) or "(none)"
            raise ValueError(f"{name}: unknown hyperparameter of {entry.family!r}; allowed: {allowed}")
        hp = declared[name]
        if hp.traceable and _is_array(value):
            out[name] = value
        else:
            out[name] = hp.check(value)
    if fill_defaults:
        for name, hp in declared.items():
            out.setdefault(name, hp.default)
    return out


def build(spec: Mapping[str, Any]) -> optax.GradientTransformation:
    """Build the optax transform of a spec ``{"family": name, **hyperparameters}``.

    Example:
      >>> import optimizers
      >>> opt = optimizers.build({"family": "adam", "learning_rate": 1e-3})
    """
    checked = validate_spec(spec)
    entry = REGISTRY[checked.pop("family")]
    return entry.constructor(**checked)


def export(
    spec: Mapping[str, Any], path: str | os.PathLike[str], provenance: Mapping[str, Any] | None = None
) -> Path:
    """Write ``spec`` as an optimizer file (atomically: temp file, fsync, rename). Returns the path.

    Missing hyperparameters are written with their defaults, so the file is complete and does not change
    meaning if a default changes later.
    """
    checked = validate_spec(spec, fill_defaults=True)
    family = checked.pop("family")
    hyperparameters = {name: _to_json(name, value) for name, value in checked.items()}
    document = {
        "format": FORMAT,
        "version": VERSION,
        "family": family,
        "hyperparameters": hyperparameters,
        "provenance": _to_json("provenance", dict(provenance or {})),
    }
    text = json.dumps(document, indent=2, sort_keys=False, allow_nan=False) + "\n"
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def load_spec(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate an optimizer file; return its spec ``{"family": ..., **hyperparameters}``."""
    document = _read_document(Path(path))
    fmt = document.get("format")
    if fmt != FORMAT:
        raise ValueError(f"format: expected {FORMAT!r}, got {fmt!r}")
    version = document.get("version")
    if version != VERSION or isinstance(version, bool):
        raise ValueError(f"version: expected {VERSION}, got {version!r}")
    for key in document:
        if key not in ("format", "version", "family", "hyperparameters", "provenance"):
            raise ValueError(f"{key}: unknown top-level field of an optimizer file")
    if "family" not in document:
        raise ValueError("family: missing")
    entry = entry_for(document["family"])
    hyperparameters = document.get("hyperparameters")
    if not isinstance(hyperparameters, dict):
        raise ValueError(f"hyperparameters: expected an object, got {type(hyperparameters).__name__}")
    provenance = document.get("provenance", {})
    if not isinstance(provenance, dict):
        raise ValueError(f"provenance: expected an object, got {type(provenance).__name__}")
    declared = [hp.name for hp in entry.hyperparameters]
    missing = [name for name in declared if name not in hyperparameters]
    if missing:
        raise ValueError(f"hyperparameters.{missing[0]}: missing for family {entry.family!r}")
    try:
        return validate_spec({"family": entry.family, **hyperparameters})
    except ValueError as err:
        raise ValueError(f"hyperparameters.{err}") from None


def load(path: str | os.PathLike[str]) -> optax.GradientTransformation:
    """Load an optimizer file written by :func:`export` and return its optax transform.

    Example:
      >>> opt = optimizers.load("best.json")  # doctest: +SKIP
      >>> state = opt.init(params)  # doctest: +SKIP
    """
    return build(load_spec(path))


def _read_document(path: Path) -> dict[str, Any]:
    try:
        size = path.stat().st_size
    except OSError as err:
        raise ValueError(f"{path}: cannot read optimizer file ({err.strerror})") from None
    if size > _MAX_BYTES:
        raise ValueError(f"{path}: optimizer file is {size} bytes, larger than the {_MAX_BYTES} allowed")
    raw = path.read_bytes()
    if raw[:1] == b"\x80" or b"\x00" in raw:
        raise ValueError(f"{path}: not a JSON optimizer file (binary content, e.g. a pickle); refused")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a JSON optimizer file (not UTF-8 text)") from None
    try:
        document = json.loads(text, parse_constant=_reject_constant, parse_int=_parse_int)
    except json.JSONDecodeError as err:
        raise ValueError(
            f"{path}: malformed JSON at line {err.lineno} column {err.colno}: {err.msg}"
        ) from None
    except (ValueError, RecursionError) as err:
        raise ValueError(f"{path}: {err}") from None
    if not isinstance(document, dict):
        raise ValueError(f"{path}: expected a JSON object at the top level, got {type(document).__name__}")
    return document


def _parse_int(text: str) -> int:
    """A JSON integer, refused beyond 64 bits (a larger one would overflow converting to float later)."""
    value = int(text)
    if not -(2**63) <= value < 2**64:
        shown = text if len(text) <= 24 else f"{text[:20]}... ({len(text)} digits)"
        raise ValueError(f"integer {shown} is out of range (more than 64 bits) in an optimizer file")
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name} is not allowed in an optimizer file")


def _is_array(value: Any) -> bool:
    return hasattr(value, "shape") and hasattr(value, "dtype")


def _to_json(field: str, value: Any) -> Any:
    """Convert a value to plain JSON types (tuples to lists, numpy scalars to numbers)."""
    if isinstance(value, Mapping):
        return {str(k): _to_json(f"{field}.{k}", v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(field, v) for v in value]
    if isinstance(value, (bool, str)) or value is None:
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{field}: must be finite, got {value!r}")
        return value
    if _is_array(value):
        try:
            as_list = value.tolist()
        except Exception as err:  # a tracer cannot be exported
            raise ValueError(f"{field}: cannot export a traced value") from err
        return _to_json(field, as_list)
    raise ValueError(f"{field}: cannot write a {type(value).__name__} to JSON")
