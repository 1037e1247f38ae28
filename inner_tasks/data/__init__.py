"""Data loaders: IDX (MNIST, Fashion-MNIST), CIFAR-10 binary batches, scikit-learn digits, stdlib text."""

from inner_tasks.data.paths import DATA_DIR_ENV, DataError, dataset_dir, default_data_dir, resolve_data_dir

__all__ = ["DATA_DIR_ENV", "DataError", "dataset_dir", "default_data_dir", "resolve_data_dir"]
