"""Optional loader through ``tensorflow_datasets`` (used only when it is installed and asked for).

Nothing is downloaded: ``download=False``, so the data must already be in the TFDS data directory.
Splits: TFDS ``train`` is split 90/10 into train/validation by ``np.random.RandomState(0)``; ``test`` is
the test split.
"""

from __future__ import annotations

import numpy as np

from inner_tasks.data.paths import DataError

__all__ = ["tfds_available", "load_tfds_splits", "TFDS_NAMES"]

TFDS_NAMES = {"mnist": "mnist", "fashion_mnist": "fashion_mnist", "cifar10": "cifar10"}


def tfds_available() -> bool:
    """Whether ``tensorflow_datasets`` can be imported."""
    try:
        import tensorflow_datasets  # noqa: F401
    except Exception:
        return False
    return True


def load_tfds_splits(name: str, data_dir: str | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"train", "valid", "test"}`` image/label pairs of a TFDS dataset already on disk."""
    if name not in TFDS_NAMES:
        raise DataError(f"dataset: {name!r} has no TFDS mapping; known: {sorted(TFDS_NAMES)}")
    try:
        import tensorflow_datasets as tfds
    except Exception as e:
        raise DataError("tensorflow_datasets is not installed (pip install tensorflow-datasets)") from e
    out = {}
    try:
        for split in ("train", "test"):
            ds = tfds.as_numpy(
                tfds.load(TFDS_NAMES[name], split=split, batch_size=-1, data_dir=data_dir, download=False)
            )
            images = np.asarray(ds["image"], dtype=np.uint8)
            if images.ndim == 4 and images.shape[-1] == 1:
                images = images[..., 0]
            out[split] = (images, np.asarray(ds["label"], dtype=np.uint8))
    except Exception as e:
        raise DataError(f"tfds {TFDS_NAMES[name]!r}: cannot load without downloading ({e})") from e
    x, y = out["train"]
    n_valid = x.shape[0] // 10
    perm = np.random.RandomState(0).permutation(x.shape[0])
    tr, va = perm[: x.shape[0] - n_valid], perm[x.shape[0] - n_valid :]
    return {"train": (x[tr], y[tr]), "valid": (x[va], y[va]), "test": out["test"]}
