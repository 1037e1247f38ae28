"""Reader for CIFAR-10's binary batches (``data_batch_1.bin`` ... ``data_batch_5.bin``, ``test_batch.bin``).

Each record is 3,073 bytes: one label byte (0-9), then 1,024 red, 1,024 green and 1,024 blue bytes of a
32x32 image in row-major order (Krizhevsky 2009, https://www.cs.toronto.edu/~kriz/cifar.html).

Splits (:func:`load_cifar10`): the 50,000 training images are split 45,000 train / 5,000 validation (the
first 45,000 and the last 5,000 entries of ``np.random.RandomState(0).permutation(50000)``); the 10,000
test images are the test split.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from inner_tasks.data.paths import DataError

__all__ = ["RECORD_BYTES", "read_cifar_batch", "write_cifar_batch", "load_cifar10", "TRAIN_BATCHES"]

RECORD_BYTES = 1 + 3 * 32 * 32
TRAIN_BATCHES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_BATCH = "test_batch.bin"


def read_cifar_batch(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read one binary batch into ``(images uint8 [N, 32, 32, 3], labels uint8 [N])``.

    Raises:
      DataError: a missing file, a size that is not a multiple of 3,073 bytes, or a label above 9.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read CIFAR-10 batch ({e.strerror or e})") from e
    if not raw or len(raw) % RECORD_BYTES:
        raise DataError(
            f"{path}: size {len(raw)} bytes is not a positive multiple of {RECORD_BYTES} "
            "(expected CIFAR-10 binary records: 1 label byte + 3072 pixel bytes)"
        )
    records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, RECORD_BYTES)
    labels = records[:, 0].copy()
    if int(labels.max()) > 9:
        raise DataError(f"{path}: label {int(labels.max())} out of range 0..9 (not a CIFAR-10 batch?)")
    images = records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy()
    return images, labels


def write_cifar_batch(path: str | os.PathLike, images: np.ndarray, labels: np.ndarray) -> Path:
    """Write ``images`` (uint8 [N, 32, 32, 3]) and ``labels`` in CIFAR-10's binary record format."""
    images = np.asarray(images, dtype=np.uint8)
    labels = np.asarray(labels, dtype=np.uint8)
    if images.shape[1:] != (32, 32, 3) or labels.shape != images.shape[:1]:
        raise ValueError(f"images: expected [N, 32, 32, 3] with N labels, got {images.shape}, {labels.shape}")
    planes = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
    path = Path(path)
    path.write_bytes(np.concatenate([labels[:, None], planes], axis=1).tobytes())
    return path


def load_cifar10(directory: str | os.PathLike) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Load the CIFAR-10 binary batches of ``directory`` into ``{"train", "valid", "test"}`` pairs."""
    directory = Path(directory)
    parts = []
    for name in TRAIN_BATCHES:
        if not (directory / name).is_file():
            raise DataError(f"{directory / name}: file not found (expected a CIFAR-10 binary batch)")
        parts.append(read_cifar_batch(directory / name))
    if not (directory / TEST_BATCH).is_file():
        raise DataError(f"{directory / TEST_BATCH}: file not found (expected a CIFAR-10 binary batch)")
    test = read_cifar_batch(directory / TEST_BATCH)
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    n_valid = x.shape[0] // 10
    perm = np.random.RandomState(0).permutation(x.shape[0])
    tr, va = perm[: x.shape[0] - n_valid], perm[x.shape[0] - n_valid :]
    return {"train": (x[tr], y[tr]), "valid": (x[va], y[va]), "test": test}
