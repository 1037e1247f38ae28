"""Image datasets by name: MNIST, Fashion-MNIST (IDX files), CIFAR-10 (binary batches), digits (sklearn).

``load_image_splits(name, data_dir, source)`` returns NumPy ``{"train", "valid", "test"}`` pairs of
``(images uint8 or float32 [N, H, W] / [N, H, W, C], labels uint8 [N])``. ``source="files"`` reads the
data directory (see :mod:`inner_tasks.data.paths`), ``"tfds"`` uses ``tensorflow_datasets``, ``"auto"``
tries the files first and TFDS second. Results are cached per (name, directory, source).

Normalisation constants (per channel mean and standard deviation of the training images, on the 0..1
scale): MNIST 0.1307 / 0.3081, Fashion-MNIST 0.2860 / 0.3530, CIFAR-10 (0.4914, 0.4822, 0.4465) /
(0.2470, 0.2435, 0.2616), digits (pixels 0..16 divided by 16; measured on its train split) 0.3056 / 0.3758.
"""

from __future__ import annotations

import functools

import numpy as np

from inner_tasks.data import cifar, digits, idx, tfds
from inner_tasks.data.paths import DataError, dataset_dir, resolve_data_dir

__all__ = ["IMAGE_DATASETS", "NORMALIZATION", "NUM_CLASSES", "PIXEL_SCALE", "load_image_splits", "normalize"]

IMAGE_DATASETS = ("mnist", "fashion_mnist", "cifar10", "digits")
NUM_CLASSES = {"mnist": 10, "fashion_mnist": 10, "cifar10": 10, "digits": 10}
#: (mean, std) on the 0..1 scale; ``digits`` pixels are divided by 16 first, the others by 255.
NORMALIZATION: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "mnist": ((0.1307,), (0.3081,)),
    "fashion_mnist": ((0.2860,), (0.3530,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "digits": ((0.3056,), (0.3758,)),
}
PIXEL_SCALE = {"mnist": 255.0, "fashion_mnist": 255.0, "cifar10": 255.0, "digits": 16.0}


def normalize(name: str, images: np.ndarray) -> np.ndarray:
    """``(images / scale - mean) / std`` as float32 (per channel for CIFAR-10)."""
    mean, std = NORMALIZATION[name]
    x = np.asarray(images, dtype=np.float32) / np.float32(PIXEL_SCALE[name])
    return ((x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)).astype(np.float32)


def _from_files(name: str, data_dir: str | None) -> dict:
    if name == "digits":
        return digits.load_digits_splits()
    directory = dataset_dir(name, data_dir)
    if name == "cifar10":
        return cifar.load_cifar10(directory)
    return idx.load_idx_dataset(directory, num_classes=NUM_CLASSES[name])


def load_image_splits(
    name: str, data_dir: str | None = None, source: str = "auto", *, cache: bool = True
) -> dict:
    """Load dataset ``name`` (one of :data:`IMAGE_DATASETS`) as NumPy train/valid/test pairs.

    ``data_dir`` is resolved first (argument, ``$OPTSEARCH_DATA_DIR``, the shipped directory), so the
    cache (``cache=True``) is keyed by the directory actually read.

    Raises:
      DataError: unknown name or source, a missing directory or file, or a corrupt file.
    """
    if name not in IMAGE_DATASETS:
        raise DataError(f"dataset: unknown image dataset {name!r}; known: {list(IMAGE_DATASETS)}")
    if source not in ("auto", "files", "tfds"):
        raise DataError(f"source: expected 'auto', 'files' or 'tfds', got {source!r}")
    if name != "digits" and source != "tfds":
        try:
            data_dir = str(resolve_data_dir(data_dir))
        except DataError:
            if source == "files" or not tfds.tfds_available():
                raise
    loader = _load_cached if cache else _load
    return loader(name, data_dir, source)


def _load(name: str, data_dir: str | None, source: str) -> dict:
    if source == "tfds" or (name != "digits" and source == "auto" and _missing_files(name, data_dir)):
        if source == "tfds" or tfds.tfds_available():
            return tfds.load_tfds_splits(name, data_dir)
    return _from_files(name, data_dir)


_load_cached = functools.lru_cache(maxsize=8)(_load)


def _missing_files(name: str, data_dir: str | None) -> bool:
    try:
        dataset_dir(name, data_dir)
    except DataError:
        return True
    return False
