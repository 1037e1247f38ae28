"""Reader and writer for the IDX format of MNIST and Fashion-MNIST (optionally gzip-compressed).

IDX (LeCun, Cortes & Burges): big-endian; two zero bytes, a type code (0x08 ubyte, 0x09 sbyte,
0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64), the number of dimensions, each dimension's size as
uint32, then the data in C order. Images files have magic 0x00000803 (3 dimensions), labels 0x00000801.

Splits (:func:`load_idx_dataset`): with the canonical training files present, the 60,000 training images
are split 55,000 train / 5,000 validation (the first 55,000 and the last 5,000 entries of
``np.random.RandomState(0).permutation(60000)``) and the 10,000 test images are the test split. With only the 10,000 test files (the shipped MNIST), those are
split 8,000 train / 1,000 validation / 1,000 test by ``np.random.RandomState(0).permutation(10000)``
(first 8,000, next 1,000, last 1,000). The validation images serve as both ``inner_valid`` and
``outer_valid``.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path

import numpy as np

from inner_tasks.data.paths import DataError

__all__ = ["read_idx", "write_idx", "find_idx_file", "load_idx_dataset", "file_md5", "IDX_FILES"]

_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {np.dtype(v).newbyteorder("="): k for k, v in _DTYPES.items()}

#: File stems of the canonical IDX files (each may end in ``.gz``).
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def file_md5(path: str | os.PathLike) -> str:
    """The md5 hex digest of a file's bytes (as stored, e.g. compressed)."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read IDX file ({e.strerror or e})") from e
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise DataError(f"{path}: corrupt gzip stream ({e}); expected a gzip-compressed IDX file") from e
    return raw


def read_idx(path: str | os.PathLike, *, ndim: int | None = None) -> np.ndarray:
    """Read an IDX file (gzip detected from its first bytes) into a NumPy array of native byte order.

    Args:
      path: the file.
      ndim: if given, the number of dimensions the file must have (3 for images, 1 for labels).

    Raises:
      DataError: a missing file, a bad magic number, or a size that does not match the header.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _DTYPES:
        raise DataError(
            f"{path}: not an IDX file (expected magic 0x0000 + type code in "
            f"{[hex(c) for c in _DTYPES]}, got {data[:4].hex() or 'an empty file'})"
        )
    dtype, n = _DTYPES[data[2]], data[3]
    if ndim is not None and n != ndim:
        raise DataError(f"{path}: expected an IDX file with {ndim} dimensions, header says {n}")
    header = 4 + 4 * n
    if len(data) < header:
        raise DataError(f"{path}: truncated IDX header (expected {header} bytes, got {len(data)})")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=n, offset=4))
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        raise DataError(
            f"{path}: IDX size mismatch (header shape {shape} needs {expected} bytes, file has {len(data)})"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike, array: np.ndarray, *, compress: bool | None = None) -> Path:
    """Write ``array`` as an IDX file (gzip-compressed if ``compress`` or the name ends in ``.gz``)."""
    path = Path(path)
    array = np.asarray(array)
    code = _CODES.get(array.dtype.newbyteorder("="))
    if code is None:
        raise ValueError(f"array: dtype {array.dtype} has no IDX type code")
    if array.ndim > 255:
        raise ValueError(f"array: too many dimensions for IDX ({array.ndim})")
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    body = np.ascontiguousarray(array, dtype=_DTYPES[code]).tobytes()
    raw = header + body
    if compress if compress is not None else path.suffix == ".gz":
        raw = gzip.compress(raw, mtime=0)
    path.write_bytes(raw)
    return path


def find_idx_file(directory: Path, stem: str) -> Path | None:
    """``directory/stem`` or ``directory/stem.gz`` (also the ``stem.idx3-ubyte`` spelling), or ``None``."""
    for name in (stem + ".gz", stem, stem.replace("-idx", ".idx") + ".gz", stem.replace("-idx", ".idx")):
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def _pair(directory: Path, prefix: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    images_path = find_idx_file(directory, IDX_FILES[f"{prefix}_images"])
    labels_path = find_idx_file(directory, IDX_FILES[f"{prefix}_labels"])
    for stem, found in (
        (IDX_FILES[f"{prefix}_images"], images_path),
        (IDX_FILES[f"{prefix}_labels"], labels_path),
    ):
        if found is None:
            raise DataError(f"{directory / stem}[.gz]: file not found (expected an IDX file)")
    images = read_idx(images_path, ndim=3)
    labels = read_idx(labels_path, ndim=1)
    if images.dtype != np.uint8 or labels.dtype != np.uint8:
        raise DataError(f"{images_path}, {labels_path}: expected unsigned-byte (0x08) IDX data")
    if images.shape[0] != labels.shape[0]:
        raise DataError(
            f"{labels_path}: {labels.shape[0]} labels for {images.shape[0]} images in {images_path}"
        )
    if labels.size and int(labels.max()) >= num_classes:
        raise DataError(f"{labels_path}: label {int(labels.max())} out of range 0..{num_classes - 1}")
    return images, labels


def load_idx_dataset(directory: str | os.PathLike, *, num_classes: int = 10) -> dict[str, tuple]:
    """Load an MNIST-format directory into ``{"train", "valid", "test"}`` ``(images uint8 [N,H,W], labels)``.

    The splits are described in the module docstring.
    """
    directory = Path(directory)
    has_train = find_idx_file(directory, IDX_FILES["train_images"]) is not None
    test_x, test_y = _pair(directory, "test", num_classes)
    if has_train:
        train_x, train_y = _pair(directory, "train", num_classes)
        n_valid = train_x.shape[0] // 12  # 5,000 of 60,000
        perm = np.random.RandomState(0).permutation(train_x.shape[0])
        tr, va = perm[: train_x.shape[0] - n_valid], perm[train_x.shape[0] - n_valid :]
        return {
            "train": (train_x[tr], train_y[tr]),
            "valid": (train_x[va], train_y[va]),
            "test": (test_x, test_y),
        }
    n = test_x.shape[0]
    n_hold = n // 10  # 1,000 of 10,000
    if n_hold < 1:
        raise DataError(f"{directory}: too few test images ({n}) to carve train/valid/test splits")
    perm = np.random.RandomState(0).permutation(n)
    tr, va, te = perm[: n - 2 * n_hold], perm[n - 2 * n_hold : n - n_hold], perm[n - n_hold :]
    return {
        "train": (test_x[tr], test_y[tr]),
        "valid": (test_x[va], test_y[va]),
        "test": (test_x[te], test_y[te]),
    }
