"""Data loaders: IDX and CIFAR-10 formats (round trips and corrupt files), the shipped MNIST, digits, text."""

from __future__ import annotations

import gzip
import re

import numpy as np
import pytest

from inner_tasks.data import cifar, digits, idx, images, paths, text
from inner_tasks.data.paths import DataError

SHIPPED_MD5 = {  # from ../shared/data/README.md
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}


def _readme_md5() -> dict[str, str]:
    readme = (paths.default_data_dir() / "README.md").read_text()
    return dict(re.findall(r"\| (t10k-\S+\.gz) \| ([0-9a-f]{32}) \|", readme))


# -- IDX -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("compress", [False, True])
def test_idx_round_trip(tmp_path, dtype, compress):
    rng = np.random.default_rng(0)
    array = (rng.standard_normal((3, 4, 5)) * 50).astype(dtype)
    path = idx.write_idx(tmp_path / ("a.idx.gz" if compress else "a.idx"), array)
    raw = path.read_bytes()
    assert (raw[:2] == b"\x1f\x8b") == compress
    out = idx.read_idx(path)
    assert out.dtype == np.dtype(dtype) and out.shape == array.shape
    np.testing.assert_array_equal(out, array)


def test_idx_header_bytes_follow_the_format(tmp_path):
    labels = np.array([7, 2, 1], dtype=np.uint8)
    raw = idx.write_idx(tmp_path / "l", labels, compress=False).read_bytes()
    # magic 0x00000801, then the count as big-endian uint32, then the bytes
    assert raw == bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1])


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "not an IDX file"),
        (b"\x01\x00\x08\x01\x00\x00\x00\x01\x05", "not an IDX file"),
        (b"\x00\x00\x08\x03\x00\x00", "truncated IDX header"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x05\x01\x02", "size mismatch"),
        (b"\x1f\x8b\x08\x00garbage", "corrupt gzip"),
    ],
)
def test_idx_corrupt_files_name_the_file(tmp_path, content, message):
    path = tmp_path / "bad-idx"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message) as info:
        idx.read_idx(path)
    assert str(path) in str(info.value)


def test_idx_wrong_rank_and_missing_file(tmp_path):
    path = idx.write_idx(tmp_path / "x", np.zeros((2, 2), np.uint8))
    with pytest.raises(DataError, match="expected an IDX file with 3 dimensions"):
        idx.read_idx(path, ndim=3)
    with pytest.raises(DataError, match="cannot read"):
        idx.read_idx(tmp_path / "missing")


def _write_mnist_like(directory, n_train, n_test, rng, label_max=9):
    directory.mkdir(parents=True, exist_ok=True)
    files = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        if n is None:
            continue
        x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        y = rng.integers(0, label_max + 1, n).astype(np.uint8)
        idx.write_idx(directory / f"{prefix}-images-idx3-ubyte.gz", x)
        idx.write_idx(directory / f"{prefix}-labels-idx1-ubyte.gz", y)
        files[prefix] = (x, y)
    return files


def test_canonical_layout_splits_train_into_train_and_valid(tmp_path):
    rng = np.random.default_rng(1)
    files = _write_mnist_like(tmp_path / "fashion_mnist", 120, 30, rng)
    splits = idx.load_idx_dataset(tmp_path / "fashion_mnist")
    assert [splits[k][0].shape[0] for k in ("train", "valid", "test")] == [110, 10, 30]
    np.testing.assert_array_equal(splits["test"][0], files["t10k"][0])
    perm = np.random.RandomState(0).permutation(120)
    np.testing.assert_array_equal(splits["train"][1], files["train"][1][perm[:110]])
    np.testing.assert_array_equal(splits["valid"][0], files["train"][0][perm[110:]])


def test_test_only_layout_uses_documented_permutation(tmp_path):
    rng = np.random.default_rng(2)
    files = _write_mnist_like(tmp_path / "mnist", None, 50, rng)
    splits = idx.load_idx_dataset(tmp_path / "mnist")
    perm = np.random.RandomState(0).permutation(50)
    x, y = files["t10k"]
    np.testing.assert_array_equal(splits["train"][0], x[perm[:40]])
    np.testing.assert_array_equal(splits["valid"][1], y[perm[40:45]])
    np.testing.assert_array_equal(splits["test"][1], y[perm[45:]])


def test_mismatched_counts_and_bad_labels(tmp_path):
    rng = np.random.default_rng(3)
    d = tmp_path / "mnist"
    _write_mnist_like(d, None, 20, rng)
    idx.write_idx(d / "t10k-labels-idx1-ubyte.gz", np.zeros(19, np.uint8))
    with pytest.raises(DataError, match="19 labels for 20 images"):
        idx.load_idx_dataset(d)
    idx.write_idx(d / "t10k-labels-idx1-ubyte.gz", np.full(20, 12, np.uint8))
    with pytest.raises(DataError, match="label 12 out of range"):
        idx.load_idx_dataset(d)
    (d / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.*file not found"):
        idx.load_idx_dataset(d)


def test_truncated_gzip_in_data_dir_is_one_clear_error(tmp_path):
    rng = np.random.default_rng(4)
    d = tmp_path / "mnist"
    _write_mnist_like(d, None, 20, rng)
    raw = (d / "t10k-images-idx3-ubyte.gz").read_bytes()
    (d / "t10k-images-idx3-ubyte.gz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz"):
        images.load_image_splits("mnist", str(tmp_path), "files", cache=False)


# -- the shipped MNIST ---------------------------------------------------------------------------------------


def test_shipped_mnist_md5_matches_readme():
    listed = _readme_md5()
    assert listed == SHIPPED_MD5
    for name, md5 in listed.items():
        assert idx.file_md5(paths.default_data_dir() / "mnist" / name) == md5


def test_shipped_mnist_loads_with_real_content():
    splits = idx.load_idx_dataset(paths.dataset_dir("mnist"))
    assert [splits[k][0].shape for k in ("train", "valid", "test")] == [
        (8000, 28, 28),
        (1000, 28, 28),
        (1000, 28, 28),
    ]
    all_labels = np.concatenate([splits[k][1] for k in ("train", "valid", "test")])
    # the MNIST test set's class counts (LeCun et al.): digit 1 is the most frequent with 1,135 images
    counts = np.bincount(all_labels, minlength=10)
    assert counts.sum() == 10_000 and counts[1] == 1135 and counts.argmax() == 1
    raw = gzip.decompress((paths.dataset_dir("mnist") / "t10k-labels-idx1-ubyte.gz").read_bytes())
    first = np.frombuffer(raw, np.uint8, offset=8)
    perm = np.random.RandomState(0).permutation(10_000)
    np.testing.assert_array_equal(splits["test"][1], first[perm[9000:]])
    x = splits["train"][0].astype(np.float64) / 255
    assert 0.12 < x.mean() < 0.14  # MNIST's mean intensity is about 0.13


# -- data directory resolution ---------------------------------------------------------------------------------


def test_data_dir_resolution_order(tmp_path, monkeypatch):
    monkeypatch.delenv(paths.DATA_DIR_ENV, raising=False)
    assert paths.resolve_data_dir() == paths.default_data_dir()
    monkeypatch.setenv(paths.DATA_DIR_ENV, str(tmp_path))
    assert paths.resolve_data_dir() == tmp_path
    explicit = tmp_path / "explicit"
    explicit.mkdir()
    assert paths.resolve_data_dir(explicit) == explicit


def test_missing_data_dir_and_dataset_errors(tmp_path, monkeypatch):
    with pytest.raises(DataError, match=r"nope \(from data_dir argument\) does not exist"):
        paths.resolve_data_dir(tmp_path / "nope")
    monkeypatch.setenv(paths.DATA_DIR_ENV, str(tmp_path / "also-nope"))
    with pytest.raises(DataError, match="OPTSEARCH_DATA_DIR"):
        paths.resolve_data_dir()
    with pytest.raises(DataError, match=r"cifar10.*no directory found.*cifar-10-batches-bin"):
        paths.dataset_dir("cifar10", tmp_path)
    with pytest.raises(DataError, match="unknown image dataset"):
        paths.dataset_dir("imagenet", tmp_path)


# -- CIFAR-10 ------------------------------------------------------------------------------------------------------


def test_cifar_record_layout_and_round_trip(tmp_path):
    rng = np.random.default_rng(5)
    x = rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    y = np.array([0, 9, 3, 3], np.uint8)
    path = cifar.write_cifar_batch(tmp_path / "b.bin", x, y)
    raw = np.frombuffer(path.read_bytes(), np.uint8).reshape(4, 3073)
    # record = label, then the red plane row-major, then green, then blue
    assert raw[1, 0] == 9 and raw[1, 1] == x[1, 0, 0, 0] and raw[1, 2] == x[1, 0, 1, 0]
    assert raw[1, 1 + 1024] == x[1, 0, 0, 1] and raw[1, 1 + 2048 + 33] == x[1, 1, 1, 2]
    out_x, out_y = cifar.read_cifar_batch(path)
    np.testing.assert_array_equal(out_x, x)
    np.testing.assert_array_equal(out_y, y)


def test_cifar_corrupt_batches(tmp_path):
    path = tmp_path / "data_batch_1.bin"
    path.write_bytes(b"\x00" * 3000)
    with pytest.raises(
        DataError, match=r"data_batch_1.bin: size 3000 bytes is not a positive multiple of 3073"
    ):
        cifar.read_cifar_batch(path)
    path.write_bytes(bytes([11]) + b"\x00" * 3072)
    with pytest.raises(DataError, match="label 11 out of range"):
        cifar.read_cifar_batch(path)


def test_cifar_directory_load(tmp_path):
    rng = np.random.default_rng(6)
    d = tmp_path / "cifar-10-batches-bin"
    d.mkdir()
    batches = []
    for name in (*cifar.TRAIN_BATCHES, "test_batch.bin"):
        x = rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
        y = rng.integers(0, 10, 6).astype(np.uint8)
        cifar.write_cifar_batch(d / name, x, y)
        batches.append((x, y))
    splits = images.load_image_splits("cifar10", str(tmp_path), "files", cache=False)
    assert [splits[k][0].shape[0] for k in ("train", "valid", "test")] == [27, 3, 6]
    np.testing.assert_array_equal(splits["test"][0], batches[-1][0])
    train_x = np.concatenate([b[0] for b in batches[:5]])
    perm = np.random.RandomState(0).permutation(30)
    np.testing.assert_array_equal(splits["valid"][0], train_x[perm[27:]])
    (d / "data_batch_3.bin").unlink()
    with pytest.raises(DataError, match="data_batch_3.bin: file not found"):
        images.load_image_splits("cifar10", str(tmp_path), "files", cache=False)


def test_normalize_uses_documented_constants():
    x = np.full((1, 2, 2, 3), 255, np.uint8)
    out = images.normalize("cifar10", x)
    np.testing.assert_allclose(
        out[0, 0, 0], (1 - np.array([0.4914, 0.4822, 0.4465])) / [0.2470, 0.2435, 0.2616], 1e-6
    )


# -- digits and text --------------------------------------------------------------------------------------------------


def test_digits_splits():
    splits = digits.load_digits_splits()
    assert [splits[k][0].shape for k in ("train", "valid", "test")] == [
        (1297, 8, 8),
        (250, 8, 8),
        (250, 8, 8),
    ]
    joined = np.concatenate([splits[k][0] for k in ("train", "valid", "test")])
    assert joined.min() == 0 and joined.max() == 16
    assert (
        len({tuple(a.ravel()) for a in splits["test"][0]} & {tuple(a.ravel()) for a in splits["train"][0]})
        < 5
    )


def test_text_encoding_round_trip_and_unknowns():
    s = "def f(x):\n\treturn 'é'\n"
    ids = text.encode(s)
    assert ids.dtype == np.uint8 and ids.max() < text.VOCAB_SIZE
    assert text.decode(ids) == s.replace("\t", "?").replace("é", "?")
    assert text.VOCAB_SIZE == 97 and ids[0] == text.VOCAB.index("d")


def test_text_corpus_is_real_stdlib_source():
    corpus = text.stdlib_text(20_000)
    assert len(corpus) == 20_000 and "def " in corpus and "import " in corpus
    splits = text.load_text_splits(20_000)
    assert [len(splits[k]) for k in ("train", "valid", "test")] == [16_000, 2_000, 2_000]
    with pytest.raises(ValueError, match="num_chars"):
        text.stdlib_text(0)
