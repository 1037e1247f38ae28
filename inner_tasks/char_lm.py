"""Character-level language models on real text (the running interpreter's standard-library sources).

Text, vocabulary (97 symbols) and the 80/10/10 contiguous split: :mod:`inner_tasks.data.text`. Two
small models (both well under 100k parameters with the defaults):

* ``model="mlp"`` (Bengio et al. 2003's neural probabilistic language model): the previous ``context``
  characters are embedded (``embed`` each), concatenated, passed through one ReLU layer of ``hidden``
  units and a softmax over the vocabulary; one prediction per example (default 46,961 parameters).
* ``model="gru"``: embeddings feed a GRU (Cho et al. 2014, arXiv:1406.1078) of ``hidden`` units over a
  sequence of ``context`` characters; a dense softmax layer predicts every next character (a held-out
  architecture; 23,409 parameters with ``hidden=64``).

Training batches take ``batch_size`` windows at uniformly random offsets of the train split. ``evaluate``
uses ``eval_size`` windows at evenly spaced offsets of the split (deterministic) and reports the mean
cross-entropy in nats per character and the next-character accuracy. ``lower_bound`` is 0.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from inner_tasks import nn
from inner_tasks._common import as_dtype, check_dtype, check_int
from inner_tasks.base import Datasets, Task, check_split
from inner_tasks.data.text import VOCAB_SIZE, load_text_splits

__all__ = ["CharLM"]


@dataclasses.dataclass(frozen=True)
class CharLM(Task):
    """A small character-level language model (module docstring).

    Attributes:
      model: ``"mlp"`` (fixed context window) or ``"gru"`` (recurrent, predicts every position).
      context: characters of context (``mlp``) or sequence length (``gru``).
      embed: embedding width.
      hidden: hidden units.
      batch_size: windows per training batch.
      num_chars: characters of the corpus used (train + validation + test).
      eval_size: windows used by ``evaluate``.
      dtype: parameter dtype name.
    """

    model: str = "mlp"
    context: int = 16
    embed: int = 16
    hidden: int = 128
    batch_size: int = 64
    num_chars: int = 400_000
    eval_size: int = 1024
    dtype: str = "float32"

    has_accuracy = True

    def __post_init__(self) -> None:
        if self.model not in ("mlp", "gru"):
            raise ValueError(f"model: expected 'mlp' or 'gru', got {self.model!r}")
        for field in ("context", "embed", "hidden", "batch_size", "eval_size"):
            check_int(field, getattr(self, field), 1)
        check_int("num_chars", self.num_chars, 1000)
        check_dtype(self.dtype)

    @property
    def name(self) -> str:
        return f"char_lm_{self.model}_c{self.context}_h{self.hidden}_b{self.batch_size}"

    @property
    def window(self) -> int:
        """Characters per example: the inputs plus the target(s)."""
        return self.context + 1

    def load_datasets(self) -> Datasets:
        splits = {k: {"tokens": jnp.asarray(v)} for k, v in load_text_splits(self.num_chars).items()}
        return Datasets(
            train=splits["train"],
            inner_valid=splits["valid"],
            outer_valid=splits["valid"],
            test=splits["test"],
        )

    def init(self, key: jax.Array) -> dict:
        dtype = as_dtype(self.dtype)
        k_emb, k_1, k_2 = jax.random.split(key, 3)
        params = {"embed": (jax.random.normal(k_emb, (VOCAB_SIZE, self.embed), jnp.float32)).astype(dtype)}
        if self.model == "mlp":
            params["hidden"] = nn.dense_init(k_1, self.context * self.embed, self.hidden, dtype)
        else:
            k_x, k_h = jax.random.split(k_1)
            params["gru_x"] = nn.dense_init(k_x, self.embed, 3 * self.hidden, dtype)
            params["gru_h"] = {"w": nn.dense_init(k_h, self.hidden, 3 * self.hidden, dtype)["w"]}
        params["out"] = nn.dense_init(k_2, self.hidden, VOCAB_SIZE, dtype)
        return params

    def _logits(self, params: dict, tokens: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``(logits, targets)`` for windows ``tokens`` ``[B, context + 1]``."""
        compute = jnp.promote_types(as_dtype(self.dtype), jnp.float32)
        emb = params["embed"].astype(compute)[tokens[:, :-1].astype(jnp.int32)]  # [B, C, E]
        if self.model == "mlp":
            h = jax.nn.relu(nn.dense(params["hidden"], emb.reshape(emb.shape[0], -1)))
            return nn.dense(params["out"], h), tokens[:, -1]
        gx = nn.dense(params["gru_x"], emb)  # [B, C, 3H]
        w_h = params["gru_h"]["w"].astype(compute)

        def step(h, gx_t):
            r_x, z_x, n_x = jnp.split(gx_t, 3, axis=-1)
            r_h, z_h, n_h = jnp.split(h @ w_h, 3, axis=-1)
            r = jax.nn.sigmoid(r_x + r_h)
            z = jax.nn.sigmoid(z_x + z_h)
            n = jnp.tanh(n_x + r * n_h)
            h = (1.0 - z) * n + z * h
            return h, h

        h0 = jnp.zeros((tokens.shape[0], self.hidden), compute)
        _, hs = jax.lax.scan(step, h0, jnp.swapaxes(gx, 0, 1))
        return nn.dense(params["out"], jnp.swapaxes(hs, 0, 1)), tokens[:, 1:]

    def _windows(self, tokens: jax.Array, starts: jax.Array) -> jax.Array:
        return jax.vmap(lambda s: jax.lax.dynamic_slice(tokens, (s,), (self.window,)))(starts)

    def batch(self, key: jax.Array, split: str = "train", datasets: Datasets | None = None) -> dict:
        tokens = self._data(datasets).split(check_split(split))["tokens"]
        starts = jax.random.randint(key, (self.batch_size,), 0, tokens.shape[0] - self.window + 1)
        return {"tokens": self._windows(tokens, starts)}

    def loss(self, params: dict, key: jax.Array, batch: dict) -> jax.Array:
        logits, targets = self._logits(params, batch["tokens"])
        return nn.cross_entropy(logits, targets)

    def evaluate(self, params: dict, split: str = "outer_valid", datasets: Datasets | None = None) -> dict:
        tokens = self._data(datasets).split(check_split(split))["tokens"]
        last = tokens.shape[0] - self.window
        starts = jnp.asarray(np.linspace(0, last, self.eval_size).astype(np.int32))
        logits, targets = self._logits(params, self._windows(tokens, starts))
        return {"loss": nn.cross_entropy(logits, targets), "accuracy": nn.accuracy(logits, targets)}
