"""Real text for character-level language models: the running interpreter's standard-library sources.

The corpus is the concatenation of the top-level ``*.py`` files of the standard library directory
(``sysconfig.get_paths()["stdlib"]``) in sorted file-name order, each followed by a newline, truncated to
``num_chars`` characters. It is split contiguously: the first 80% train, the next 10% validation, the
last 10% test. Characters are encoded with a fixed vocabulary: newline and printable ASCII (32..126)
get ids 0..95, every other character id 96 (unknown), so ``VOCAB_SIZE = 97``.

The text depends on the Python version; :func:`corpus_id` names the source so caches can key on it.
"""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

import numpy as np

from inner_tasks.data.paths import DataError

__all__ = [
    "VOCAB",
    "VOCAB_SIZE",
    "UNKNOWN",
    "stdlib_text",
    "encode",
    "decode",
    "load_text_splits",
    "corpus_id",
]

VOCAB = "\n" + "".join(chr(c) for c in range(32, 127))
UNKNOWN = len(VOCAB)
VOCAB_SIZE = len(VOCAB) + 1

_TABLE = np.full(256, UNKNOWN, dtype=np.uint8)
for _i, _c in enumerate(VOCAB):
    _TABLE[ord(_c)] = _i


def _stdlib_dir() -> Path:
    path = Path(sysconfig.get_paths()["stdlib"])
    if not path.is_dir():
        raise DataError(f"{path}: the standard library directory does not exist (needed for char_lm text)")
    return path


def stdlib_text(num_chars: int) -> str:
    """The first ``num_chars`` characters of the standard-library corpus (see the module docstring)."""
    if num_chars < 1:
        raise ValueError(f"num_chars: must be >= 1, got {num_chars}")
    parts: list[str] = []
    total = 0
    for path in sorted(_stdlib_dir().glob("*.py")):
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        parts.append(text + "\n")
        total += len(text) + 1
        if total >= num_chars:
            break
    corpus = "".join(parts)[:num_chars]
    if len(corpus) < num_chars:
        raise DataError(f"{_stdlib_dir()}: only {len(corpus)} characters of *.py sources, need {num_chars}")
    return corpus


def encode(text: str) -> np.ndarray:
    """Map characters to ids (uint8): newline and printable ASCII to 0..95, anything else to 96."""
    codes = np.frombuffer(text.encode("ascii", errors="replace"), dtype=np.uint8)
    ids = _TABLE[codes]
    # Non-ASCII characters became b"?" above; mark them unknown.
    non_ascii = np.fromiter((ord(c) > 127 for c in text), dtype=bool, count=len(text))
    if non_ascii.any():
        ids = ids.copy()
        ids[non_ascii] = UNKNOWN
    return ids


def decode(ids: np.ndarray) -> str:
    """Inverse of :func:`encode` (unknown ids become ``"?"``)."""
    chars = VOCAB + "?"
    return "".join(chars[int(i)] for i in np.asarray(ids).ravel())


def corpus_id(num_chars: int) -> str:
    """A description of the corpus source (Python version and size) for cache keys."""
    return f"python-{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}-stdlib-{num_chars}"


def load_text_splits(num_chars: int) -> dict[str, np.ndarray]:
    """``{"train", "valid", "test"}`` token arrays (uint8) of the corpus, split 80/10/10 contiguously."""
    ids = encode(stdlib_text(num_chars))
    n = ids.shape[0]
    a, b = int(0.8 * n), int(0.9 * n)
    return {"train": ids[:a], "valid": ids[a:b], "test": ids[b:]}
