"""scikit-learn's bundled 8x8 handwritten digits (1,797 real images, UCI optdigits test set).

Splits: ``np.random.RandomState(0).permutation(1797)``: first 1,297 train, next 250 validation, last 250
test. Pixel values are 0..16.
"""

from __future__ import annotations

import numpy as np

from inner_tasks.data.paths import DataError

__all__ = ["load_digits_splits"]


def load_digits_splits() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"train", "valid", "test"}``: ``(images float32 [N, 8, 8] in 0..16, labels uint8 [N])``."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:  # pragma: no cover - scikit-learn is a dependency
        raise DataError("digits: scikit-learn is not installed (it ships the 8x8 digits data)") from e
    bunch = load_digits()
    x = np.asarray(bunch.images, dtype=np.float32)
    y = np.asarray(bunch.target, dtype=np.uint8)
    n = x.shape[0]
    n_hold = 250
    perm = np.random.RandomState(0).permutation(n)
    tr, va, te = perm[: n - 2 * n_hold], perm[n - 2 * n_hold : n - n_hold], perm[n - n_hold :]
    return {"train": (x[tr], y[tr]), "valid": (x[va], y[va]), "test": (x[te], y[te])}
