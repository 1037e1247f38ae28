"""Image classification on real data: MLP, conv net (RLLC paper App. C.1) and ResNet-20.

Models (the RLLC paper, "Dynamic Memory Based Adaptive Optimization", App. C.1):

* :class:`ImageMLP`: flattened image -> dense 128 -> ReLU -> dense 128 -> ReLU -> dense 128 -> ReLU ->
  dense 10, no normalisation layers.
* :class:`ImageConv`: three 3x3 convolutions with 32, 64, 64 channels, stride 2, ``SAME`` padding, each
  followed by ReLU; then global max pooling over space and one dense layer (learned_optimization's
  ``Conv`` tasks, with the max pooling the RLLC paper states).
* :class:`ResNet20`: the CIFAR ResNet-20 of He et al. 2016 (arXiv:1512.03385): a 3x3/16 stem, three
  stages of three basic blocks (conv-BN-ReLU-conv-BN, add, ReLU) with 16, 32, 64 channels (stride 2 and a
  1x1 projection shortcut entering stages 2 and 3), global average pooling and a dense layer. Batch
  normalisation uses the statistics of the current batch, in training and in evaluation (the task is
  stateless). Training batches are augmented with a random 4-pixel-padded crop and a horizontal flip
  (the standard CIFAR recipe; the RLLC paper used random resized crops, flips and rotations). Defined for
  GPU runs; it is in no default CPU suite.

Data: ``dataset`` is ``"mnist"``, ``"fashion_mnist"``, ``"cifar10"`` or ``"digits"`` (see
:mod:`inner_tasks.data.images` for files, splits and normalisation). Images are kept on the device as
uint8 and normalised per batch. Training batches of ``batch_size`` (128 in the paper) are drawn uniformly
with replacement from the train split by ``jax.random.randint``. ``evaluate`` uses the first
``eval_size`` examples of a split (the whole split if ``None``), in chunks of at most 1,000 (a remainder
smaller than a chunk is dropped). The validation split serves as both ``inner_valid`` and ``outer_valid``.
The loss is the mean softmax cross-entropy (``lower_bound`` 0).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from inner_tasks import nn
from inner_tasks._common import as_dtype, check_dtype, check_int
from inner_tasks.base import Datasets, Task, check_split
from inner_tasks.data.images import IMAGE_DATASETS, NORMALIZATION, NUM_CLASSES, PIXEL_SCALE, load_image_splits

__all__ = ["ImageClassifier", "ImageMLP", "ImageConv", "ResNet20"]

_EVAL_CHUNK = 1000


@dataclasses.dataclass(frozen=True)
class ImageClassifier(Task):
    """Shared data handling of the image tasks (subclasses define the model).

    Attributes:
      dataset: ``"mnist"``, ``"fashion_mnist"``, ``"cifar10"`` or ``"digits"``.
      batch_size: training batch size.
      data_dir: data directory (``None``: ``$OPTSEARCH_DATA_DIR`` or the shipped ``../shared/data``).
      source: ``"auto"``, ``"files"`` or ``"tfds"``.
      eval_size: examples used by ``evaluate`` (``None``: the whole split).
      dtype: parameter dtype name.
    """

    dataset: str = "mnist"
    batch_size: int = 128
    data_dir: str | None = None
    source: str = "auto"
    eval_size: int | None = 1000
    dtype: str = "float32"

    has_accuracy = True

    def __post_init__(self) -> None:
        if self.dataset not in IMAGE_DATASETS:
            raise ValueError(f"dataset: expected one of {IMAGE_DATASETS}, got {self.dataset!r}")
        check_int("batch_size", self.batch_size, 1)
        if self.eval_size is not None:
            check_int("eval_size", self.eval_size, 1)
        if self.source not in ("auto", "files", "tfds"):
            raise ValueError(f"source: expected 'auto', 'files' or 'tfds', got {self.source!r}")
        if self.data_dir is not None and not isinstance(self.data_dir, str):
            object.__setattr__(self, "data_dir", str(self.data_dir))
        check_dtype(self.dtype)

    # -- model (subclasses) -------------------------------------------------------------------------

    def _model_name(self) -> str:
        raise NotImplementedError

    def init_model(self, key: jax.Array, image_shape: tuple[int, ...], num_classes: int) -> dict:
        """Parameters for images of ``image_shape`` (``[H, W, C]``)."""
        raise NotImplementedError

    def apply(self, params: dict, images: jax.Array) -> jax.Array:
        """Logits ``[B, num_classes]`` of normalised images ``[B, H, W, C]``."""
        raise NotImplementedError

    # -- Task interface ------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return f"{self.dataset}_{self._model_name()}_b{self.batch_size}"

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(H, W, C)`` of the dataset's images."""
        return {
            "mnist": (28, 28, 1),
            "fashion_mnist": (28, 28, 1),
            "cifar10": (32, 32, 3),
            "digits": (8, 8, 1),
        }[self.dataset]

    def load_datasets(self) -> Datasets:
        splits = load_image_splits(self.dataset, self.data_dir, self.source)

        def put(pair):
            x, y = pair
            x = np.asarray(x)
            if x.ndim == 3:
                x = x[..., None]
            return {"x": jnp.asarray(x.astype(np.uint8)), "y": jnp.asarray(np.asarray(y), jnp.int32)}

        valid = put(splits["valid"])
        return Datasets(
            train=put(splits["train"]), inner_valid=valid, outer_valid=valid, test=put(splits["test"])
        )

    def _normalize(self, x: jax.Array) -> jax.Array:
        mean, std = NORMALIZATION[self.dataset]
        compute = jnp.promote_types(as_dtype(self.dtype), jnp.float32)
        x = x.astype(compute) / PIXEL_SCALE[self.dataset]
        return (x - jnp.asarray(mean, compute)) / jnp.asarray(std, compute)

    def _augment(self, key: jax.Array, x: jax.Array) -> jax.Array:
        return x

    def init(self, key: jax.Array) -> dict:
        return self.init_model(key, self.image_shape, NUM_CLASSES[self.dataset])

    def batch(self, key: jax.Array, split: str = "train", datasets: Datasets | None = None) -> dict:
        data = self._data(datasets).split(check_split(split))
        k_idx, k_aug = jax.random.split(key)
        idx = jax.random.randint(k_idx, (self.batch_size,), 0, data["y"].shape[0])
        x = self._normalize(data["x"][idx])
        if split == "train":
            x = self._augment(k_aug, x)
        return {"x": x, "y": data["y"][idx]}

    def loss(self, params: dict, key: jax.Array, batch: dict) -> jax.Array:
        return nn.cross_entropy(self.apply(params, batch["x"]), batch["y"])

    def loss_and_aux(self, params: dict, key: jax.Array, batch: dict) -> tuple[jax.Array, dict]:
        logits = self.apply(params, batch["x"])
        return nn.cross_entropy(logits, batch["y"]), {"accuracy": nn.accuracy(logits, batch["y"])}

    def evaluate(self, params: dict, split: str = "outer_valid", datasets: Datasets | None = None) -> dict:
        data = self._data(datasets).split(check_split(split))
        n = data["y"].shape[0] if self.eval_size is None else min(self.eval_size, data["y"].shape[0])
        chunk = min(n, _EVAL_CHUNK)
        num_chunks = n // chunk
        x = data["x"][: num_chunks * chunk].reshape(num_chunks, chunk, *data["x"].shape[1:])
        y = data["y"][: num_chunks * chunk].reshape(num_chunks, chunk)

        def one(xy):
            logits = self.apply(params, self._normalize(xy[0]))
            return nn.cross_entropy(logits, xy[1]), nn.accuracy(logits, xy[1])

        losses, accs = jax.lax.map(one, (x, y))
        return {"loss": jnp.mean(losses), "accuracy": jnp.mean(accs)}


@dataclasses.dataclass(frozen=True)
class ImageMLP(ImageClassifier):
    """A ReLU MLP on flattened images (default 128-128-128, the RLLC paper's dense network).

    Attributes:
      hidden: hidden-layer widths.
      activation: ``"relu"`` or ``"tanh"``.
    """

    hidden: tuple[int, ...] = (128, 128, 128)
    activation: str = "relu"

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        for h in self.hidden:
            check_int("hidden", h, 1)
        if self.activation not in ("relu", "tanh"):
            raise ValueError(f"activation: expected 'relu' or 'tanh', got {self.activation!r}")

    def _model_name(self) -> str:
        act = "" if self.activation == "relu" else f"_{self.activation}"
        return "mlp" + "x".join(str(h) for h in self.hidden) + act

    def init_model(self, key: jax.Array, image_shape: tuple[int, ...], num_classes: int) -> dict:
        sizes = (int(np.prod(image_shape)), *self.hidden, num_classes)
        keys = jax.random.split(key, len(sizes) - 1)
        dtype = as_dtype(self.dtype)
        return {
            f"dense_{i}": nn.dense_init(keys[i], sizes[i], sizes[i + 1], dtype) for i in range(len(sizes) - 1)
        }

    def apply(self, params: dict, images: jax.Array) -> jax.Array:
        act = jax.nn.relu if self.activation == "relu" else jnp.tanh
        x = images.reshape(images.shape[0], -1)
        n = len(self.hidden)
        for i in range(n):
            x = act(nn.dense(params[f"dense_{i}"], x))
        return nn.dense(params[f"dense_{n}"], x)


@dataclasses.dataclass(frozen=True)
class ImageConv(ImageClassifier):
    """Three stride-2 3x3 convolutions (32, 64, 64 channels), ReLU, global max pool, dense head.

    Attributes:
      channels: output channels of each convolution.
      pool: ``"max"`` (RLLC paper) or ``"mean"`` (learned_optimization's conv tasks).
    """

    channels: tuple[int, ...] = (32, 64, 64)
    pool: str = "max"

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        for c in self.channels:
            check_int("channels", c, 1)
        if self.pool not in ("max", "mean"):
            raise ValueError(f"pool: expected 'max' or 'mean', got {self.pool!r}")

    def _model_name(self) -> str:
        return "conv" + "x".join(str(c) for c in self.channels) + ("" if self.pool == "max" else "_meanpool")

    def init_model(self, key: jax.Array, image_shape: tuple[int, ...], num_classes: int) -> dict:
        dtype = as_dtype(self.dtype)
        keys = jax.random.split(key, len(self.channels) + 1)
        c_in = image_shape[-1]
        params = {}
        for i, c in enumerate(self.channels):
            params[f"conv_{i}"] = nn.conv_init(keys[i], c_in, c, 3, dtype=dtype)
            c_in = c
        params["head"] = nn.dense_init(keys[-1], c_in, num_classes, dtype)
        return params

    def apply(self, params: dict, images: jax.Array) -> jax.Array:
        x = images
        for i in range(len(self.channels)):
            x = jax.nn.relu(nn.conv2d(params[f"conv_{i}"], x, stride=2))
        x = jnp.max(x, axis=(1, 2)) if self.pool == "max" else jnp.mean(x, axis=(1, 2))
        return nn.dense(params["head"], x)


@dataclasses.dataclass(frozen=True)
class ResNet20(ImageClassifier):
    """CIFAR ResNet-20 (He et al. 2016) with batch-statistics BatchNorm; see the module docstring.

    Attributes:
      widths: channels of the three stages.
      blocks_per_stage: basic blocks per stage (3 for ResNet-20).
      augment: random padded crops and horizontal flips on training batches.
    """

    dataset: str = "cifar10"
    widths: tuple[int, ...] = (16, 32, 64)
    blocks_per_stage: int = 3
    augment: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        for w in self.widths:
            check_int("widths", w, 1)
        check_int("blocks_per_stage", self.blocks_per_stage, 1)

    def _model_name(self) -> str:
        return f"resnet{6 * self.blocks_per_stage + 2}"

    def init_model(self, key: jax.Array, image_shape: tuple[int, ...], num_classes: int) -> dict:
        dtype = as_dtype(self.dtype)
        keys = iter(jax.random.split(key, 4 + 3 * len(self.widths) * self.blocks_per_stage))
        params: dict[str, Any] = {
            "stem": nn.conv_init(next(keys), image_shape[-1], self.widths[0], 3, bias=False, dtype=dtype),
            "stem_bn": nn.batch_norm_init(self.widths[0], dtype),
        }
        c_in = self.widths[0]
        for s, width in enumerate(self.widths):
            for b in range(self.blocks_per_stage):
                block = {
                    "conv1": nn.conv_init(next(keys), c_in, width, 3, bias=False, dtype=dtype),
                    "bn1": nn.batch_norm_init(width, dtype),
                    "conv2": nn.conv_init(next(keys), width, width, 3, bias=False, dtype=dtype),
                    "bn2": nn.batch_norm_init(width, dtype),
                }
                if c_in != width:
                    block["proj"] = nn.conv_init(next(keys), c_in, width, 1, bias=False, dtype=dtype)
                    block["proj_bn"] = nn.batch_norm_init(width, dtype)
                params[f"stage{s}_block{b}"] = block
                c_in = width
        params["head"] = nn.dense_init(next(keys), c_in, num_classes, dtype)
        return params

    def apply(self, params: dict, images: jax.Array) -> jax.Array:
        x = jax.nn.relu(nn.batch_norm(params["stem_bn"], nn.conv2d(params["stem"], images)))
        for s in range(len(self.widths)):
            for b in range(self.blocks_per_stage):
                p = params[f"stage{s}_block{b}"]
                stride = 2 if (s > 0 and b == 0) else 1
                y = jax.nn.relu(nn.batch_norm(p["bn1"], nn.conv2d(p["conv1"], x, stride)))
                y = nn.batch_norm(p["bn2"], nn.conv2d(p["conv2"], y))
                shortcut = nn.batch_norm(p["proj_bn"], nn.conv2d(p["proj"], x, stride)) if "proj" in p else x
                x = jax.nn.relu(y + shortcut)
        return nn.dense(params["head"], jnp.mean(x, axis=(1, 2)))

    def _augment(self, key: jax.Array, x: jax.Array) -> jax.Array:
        if not self.augment:
            return x
        k_crop, k_flip = jax.random.split(key)
        b, h, w, _ = x.shape
        padded = jnp.pad(x, ((0, 0), (4, 4), (4, 4), (0, 0)))
        offsets = jax.random.randint(k_crop, (b, 2), 0, 9)
        crop = jax.vmap(lambda img, o: jax.lax.dynamic_slice(img, (o[0], o[1], 0), (h, w, img.shape[-1])))
        x = crop(padded, offsets)
        flip = jax.random.bernoulli(k_flip, 0.5, (b, 1, 1, 1))
        return jnp.where(flip, x[:, :, ::-1, :], x)
