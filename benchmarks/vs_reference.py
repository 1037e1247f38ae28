"""Our compiled training loop against the reference implementations' own loops, side by side.

The inner training is the RLLC paper's dense network (784-128-128-128-10, ReLU, float32) on real MNIST
(``inner_tasks.image.ImageMLP(dataset="mnist")``: the train split of the shipped data, batches of 128
drawn uniformly with replacement, pixels normalised per batch), ``--steps`` steps (1,000), one seed.
Contenders, per optimizer (Adam, CoRe, Adan; the same hyperparameters on every side):

* ``ours``: ``inner_tasks.training.train`` with the optax optimizer of ``optimizers.build`` (one compiled
  program: ``lax.scan`` over the steps, batch sampling included; evaluation on 1,000 validation examples
  before and after training, ``eval_every = steps``).
* ``torch``: a plain PyTorch loop with the authors' optimizer (``torch.optim.Adam``,
  ``core_optimizer.CoRe`` from core-optimizer, ``timm.optim.Adan``), the same architecture in float32, the
  same data already in memory as tensors (uint8 images flattened once), per step ``torch.randint`` indices,
  gather, the same normalisation, forward, cross-entropy, backward, ``step``; the loss is kept per step
  without a host sync; the same evaluation before and after. Each optimizer implementation the package
  offers runs as its own contender (``foreach=False`` / ``True``, and ``fused=True`` for Adam), and the
  ratio is taken against the fastest of them.
* ``lopt`` (Adam only, unless ``--no-lopt``): learned_optimization's own training loop
  (``eval_training.single_task_training_curves``: one jitted step per Python iteration, batches from the
  task's iterator) with its ``optimizers.base.Adam`` on the same task exposed through
  ``inner_tasks.lopt_adapter.to_lopt`` (its own MNIST tasks read TensorFlow Datasets, which is not
  available), evaluating once per split (one batch) before and after training.

Timing: every contender first runs once (its first-call time: compilation for the JAX loops, warm-up for
torch), then ``--repeats`` rounds in which all contenders run one after the other (interleaved, so all see
the same machine load). Steady-state steps/s = steps / median wall time of the rounds (the best round is
reported too); compile time = first call - median warm call. Both frameworks get the same threads: the
process is pinned to ``--threads`` CPUs (``os.sched_setaffinity`` before JAX or torch start their thread
pools), ``torch.set_num_threads(threads)``, and with one thread
``XLA_FLAGS=--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1`` (set only when JAX has not
been imported yet, as when run as a script; the JSON output says what was applied).

Learning check: per contender the initial loss (mean of the first 10 training losses) and final loss
(mean of the last ``min(100, steps // 5)``); ``learns`` when final < 0.5 initial, ``comparable`` when
ours and the fastest torch variant end within a factor 1.5 of each other (or 0.05 apart).

Usage::

    python benchmarks/vs_reference.py                 # full: 1,000 steps, 3 repeats, 1 thread
    python benchmarks/vs_reference.py --quick         # seconds: 50 steps, 1 repeat
    python benchmarks/vs_reference.py --threads 2 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OPTIMIZERS = ("adam", "core", "adan")
#: ours (``optimizers.build`` spec) and the reference constructor's keyword arguments, per optimizer.
HYPERPARAMETERS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "adam": ({"family": "adam", "learning_rate": 1e-3}, {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8}),
    # CoRe's mini-batch setting (s_max = 1e-3); the other values are the package defaults.
    "core": ({"family": "core", "s_max": 1e-3}, {"step_sizes": (1e-6, 1e-3)}),
    "adan": (
        {"family": "adan", "learning_rate": 1e-3},
        {"lr": 1e-3, "betas": (0.98, 0.92, 0.99), "eps": 1e-8, "weight_decay": 0.0, "no_prox": False},
    ),
}
#: torch implementations timed per optimizer (keyword arguments added to the constructor).
TORCH_VARIANTS: dict[str, dict[str, dict[str, bool]]] = {
    "adam": {"loop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}},
    "core": {"loop": {"foreach": False}, "foreach": {"foreach": True}},
    "adan": {"loop": {"foreach": False}, "foreach": {"foreach": True}},
}
EVAL_SIZE = 1000
SINGLE_THREAD_XLA_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def configure_threads(threads: int) -> dict[str, Any]:
    """Pin this process to ``threads`` CPUs and give JAX and torch that many threads; say what applied."""
    info: dict[str, Any] = {"threads": threads, "jax_imported_before": "jax" in sys.modules}
    if threads == 1 and not info["jax_imported_before"]:
        flags = os.environ.get("XLA_FLAGS", "")
        os.environ["XLA_FLAGS"] = f"{flags} {SINGLE_THREAD_XLA_FLAGS}".strip()
    info["xla_flags"] = os.environ.get("XLA_FLAGS", "")
    if hasattr(os, "sched_setaffinity"):
        allowed = sorted(os.sched_getaffinity(0))
        cpus = allowed[:threads]
        os.sched_setaffinity(0, cpus)
        info["cpus"] = cpus
    import torch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set (parallel work has run in this process)
        pass
    info["torch_threads"] = torch.get_num_threads()
    return info


def loss_summary(losses) -> dict[str, Any]:
    """Initial (mean of the first 10) and final (mean of the last ``min(100, T // 5)``) training loss."""
    import numpy as np

    losses = np.asarray(losses, np.float64)
    tail = max(1, min(100, losses.shape[0] // 5))
    initial = float(np.mean(losses[:10]))
    final = float(np.mean(losses[-tail:]))
    return {"initial_loss": initial, "final_loss": final, "learns": bool(final < 0.5 * initial)}


# -- contenders: each is a callable returning (seconds, per-step training losses) -----------------------


def ours_runner(task, spec: dict[str, Any], steps: int) -> Callable[[], tuple[float, Any]]:
    """Our loop: ``training.train`` with ``optimizers.build(spec)`` (one optimizer object: one program)."""
    import jax
    import numpy as np

    import optimizers
    from inner_tasks import training

    opt = optimizers.build(spec)
    keys = jax.random.key(0)[None]

    def run() -> tuple[float, Any]:
        t0 = time.perf_counter()
        result = training.train(task, opt, steps, keys, eval_every=steps)
        seconds = time.perf_counter() - t0
        return seconds, np.asarray(result.train_loss[0])

    return run


class TorchData:
    """The task's train split and first ``EVAL_SIZE`` validation examples as torch tensors, in memory."""

    def __init__(self, task) -> None:
        import numpy as np
        import torch

        from inner_tasks.data.images import NORMALIZATION, PIXEL_SCALE

        data = task.datasets
        train, valid = data.split("train"), data.split("outer_valid")
        self.x = torch.from_numpy(np.asarray(train["x"]).reshape(train["x"].shape[0], -1).copy())
        self.y = torch.from_numpy(np.asarray(train["y"]).astype(np.int64))
        n = min(EVAL_SIZE, int(valid["y"].shape[0]))
        self.x_eval = torch.from_numpy(np.asarray(valid["x"][:n]).reshape(n, -1).copy())
        self.y_eval = torch.from_numpy(np.asarray(valid["y"][:n]).astype(np.int64))
        mean, std = NORMALIZATION[task.dataset]
        self.scale = float(PIXEL_SCALE[task.dataset])
        self.mean, self.std = float(np.mean(mean)), float(np.mean(std))
        self.batch_size = int(task.batch_size)
        self.sizes = (self.x.shape[1], *task.hidden, 10)

    def normalize(self, x):
        return (x.float() / self.scale - self.mean) / self.std


def torch_model(sizes: tuple[int, ...]):
    """``Linear-ReLU-...-Linear`` with the given layer sizes (float32, torch's default initialisation)."""
    import torch

    layers: list[Any] = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def torch_optimizer_class(name: str):
    """The reference optimizer class of ``name``."""
    import torch

    if name == "adam":
        return torch.optim.Adam
    if name == "core":
        import core_optimizer

        return core_optimizer.CoRe
    if name == "adan":
        from tests.optimizers.timm_loader import load_timm_adan  # timm.optim.Adan without torchvision

        return load_timm_adan()
    raise ValueError(f"optimizer: expected one of {OPTIMIZERS}, got {name!r}")


def torch_runner(data: TorchData, name: str, variant: dict[str, bool], steps: int):
    """A plain PyTorch loop with the reference optimizer ``name`` (built with ``variant``'s keywords)."""
    import torch
    import torch.nn.functional as F

    cls = torch_optimizer_class(name)
    kwargs = {**HYPERPARAMETERS[name][1], **variant}

    def run() -> tuple[float, Any]:
        t0 = time.perf_counter()
        torch.manual_seed(0)
        model = torch_model(data.sizes)
        opt = cls(model.parameters(), **kwargs)
        losses = torch.empty(steps)
        with torch.no_grad():
            F.cross_entropy(model(data.normalize(data.x_eval)), data.y_eval)
        for t in range(steps):
            idx = torch.randint(0, data.x.shape[0], (data.batch_size,))
            loss = F.cross_entropy(model(data.normalize(data.x[idx])), data.y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses[t] = loss.detach()
        with torch.no_grad():
            F.cross_entropy(model(data.normalize(data.x_eval)), data.y_eval)
        seconds = time.perf_counter() - t0
        return seconds, losses.numpy()

    return run


def lopt_runner(task, steps: int):
    """learned_optimization's ``single_task_training_curves`` with its Adam on ``to_lopt(task)``."""
    import jax
    import numpy as np

    from inner_tasks import lopt_adapter

    lopt_adapter.ensure_learned_optimization()
    from learned_optimization import eval_training
    from learned_optimization.optimizers import base as opt_base

    exposed = lopt_adapter.to_lopt(task)
    adam = HYPERPARAMETERS["adam"][1]
    opt = opt_base.Adam(adam["lr"], *adam["betas"], epsilon=adam["eps"], epsilon_root=0.0)

    def run() -> tuple[float, Any]:
        t0 = time.perf_counter()
        curves = eval_training.single_task_training_curves(
            exposed, opt, steps, jax.random.PRNGKey(0), eval_every=steps, eval_batches=1, last_eval_batches=1
        )
        losses = np.asarray(curves["train/loss"])
        return time.perf_counter() - t0, losses[:steps]

    return run


# -- measurement ----------------------------------------------------------------------------------------------


def measure(contenders: dict[str, Callable[[], tuple[float, Any]]], steps: int, repeats: int) -> dict:
    """First call of each contender, then ``repeats`` interleaved rounds; per contender the timings."""
    import numpy as np

    out: dict[str, dict[str, Any]] = {}
    losses: dict[str, Any] = {}
    for name, run in contenders.items():
        seconds, losses[name] = run()
        out[name] = {"first_call_s": seconds, "warm_s": []}
    for _ in range(repeats):
        for name, run in contenders.items():
            seconds, losses[name] = run()
            out[name]["warm_s"].append(seconds)
    for name, row in out.items():
        warm = np.asarray(row["warm_s"])
        row["median_s"] = float(np.median(warm))
        row["best_s"] = float(np.min(warm))
        row["steps_per_s"] = steps / row["median_s"]
        row["best_steps_per_s"] = steps / row["best_s"]
        row["compile_s"] = max(0.0, row["first_call_s"] - row["median_s"])
        row.update(loss_summary(losses[name]))
        row["finite"] = bool(np.all(np.isfinite(np.asarray(losses[name], np.float64))))
    return out


def _comparable(a: float, b: float) -> bool:
    return abs(a - b) <= 0.05 or max(a, b) <= 1.5 * min(a, b)


def summarize(timings: dict[str, dict], names: tuple[str, ...], target: float) -> list[dict[str, Any]]:
    """One row per optimizer: ours vs the fastest torch variant (and lopt for Adam, when timed).

    ``ours_over_torch`` compares median steps/s; ``ours_over_torch_per_round`` pairs the runs of each
    interleaved round (the fastest torch variant of that round), which cancels load changes between rounds.
    """
    rows = []
    for name in names:
        ours = timings[f"ours/{name}"]
        variants = {k.split("/")[-1]: v for k, v in timings.items() if k.startswith(f"torch/{name}/")}
        fastest = max(variants, key=lambda v: variants[v]["steps_per_s"])
        torch_row = variants[fastest]
        ratio = ours["steps_per_s"] / torch_row["steps_per_s"]
        row: dict[str, Any] = {
            "optimizer": name,
            "ours_steps_per_s": ours["steps_per_s"],
            "ours_compile_s": ours["compile_s"],
            "torch_variant": fastest,
            "torch_steps_per_s": torch_row["steps_per_s"],
            "torch_variants_steps_per_s": {k: v["steps_per_s"] for k, v in variants.items()},
            "ours_over_torch": ratio,
            # per round: the fastest torch variant's time over ours, both from the same round
            "ours_over_torch_per_round": [
                min(times) / mine
                for mine, times in zip(ours["warm_s"], zip(*(v["warm_s"] for v in variants.values())))
            ],
            "target_met": bool(ratio >= target),
            "ours_loss": [ours["initial_loss"], ours["final_loss"]],
            "torch_loss": [torch_row["initial_loss"], torch_row["final_loss"]],
            "learns": bool(ours["learns"] and torch_row["learns"]),
            "comparable": _comparable(ours["final_loss"], torch_row["final_loss"]),
        }
        lopt = timings.get(f"lopt/{name}")
        if lopt is not None:
            row["lopt_steps_per_s"] = lopt["steps_per_s"]
            row["lopt_compile_s"] = lopt["compile_s"]
            row["ours_over_lopt"] = ours["steps_per_s"] / lopt["steps_per_s"]
            row["ours_over_lopt_per_round"] = [b / a for a, b in zip(ours["warm_s"], lopt["warm_s"])]
            row["lopt_loss"] = [lopt["initial_loss"], lopt["final_loss"]]
            row["lopt_comparable"] = _comparable(ours["final_loss"], lopt["final_loss"])
        rows.append(row)
    return rows


def versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for dist in ("jax", "jaxlib", "optax", "torch", "core-optimizer", "timm", "learned-optimization"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="50 steps, 1 repeat (seconds)")
    parser.add_argument("--steps", type=int, default=None, help="training steps (default 1000; quick 50)")
    parser.add_argument("--repeats", type=int, default=None, help="timed rounds (default 3; quick 1)")
    parser.add_argument("--threads", type=int, default=1, help="CPUs/threads for both frameworks")
    parser.add_argument("--optimizers", nargs="*", default=list(OPTIMIZERS), choices=OPTIMIZERS)
    parser.add_argument("--no-lopt", action="store_true", help="skip learned_optimization's loop")
    parser.add_argument("--target", type=float, default=2.0, help="required ours/torch speed ratio")
    parser.add_argument("--data-dir", default=None, help="MNIST directory (default: the shipped data)")
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args(argv)
    steps = args.steps or (50 if args.quick else 1000)
    repeats = args.repeats or (1 if args.quick else 3)
    names = tuple(args.optimizers)

    if "tqdm" not in sys.modules:  # learned_optimization's loop draws a progress bar: silence it
        os.environ.setdefault("TQDM_DISABLE", "1")  # (tqdm reads this when it is imported)
    threads = configure_threads(args.threads)
    import jax

    from inner_tasks import lopt_adapter
    from inner_tasks.image import ImageMLP

    task = ImageMLP(dataset="mnist", batch_size=128, eval_size=EVAL_SIZE, data_dir=args.data_dir)
    _ = task.datasets  # load outside the timings
    data = TorchData(task)
    contenders: dict[str, Callable[[], tuple[float, Any]]] = {}
    use_lopt = "adam" in names and not args.no_lopt and lopt_adapter.is_installed()
    for name in names:
        contenders[f"ours/{name}"] = ours_runner(task, HYPERPARAMETERS[name][0], steps)
        for variant, kwargs in TORCH_VARIANTS[name].items():
            contenders[f"torch/{name}/{variant}"] = torch_runner(data, name, kwargs, steps)
        if name == "adam" and use_lopt:
            contenders["lopt/adam"] = lopt_runner(task, steps)
    t0 = time.perf_counter()
    load_before = os.getloadavg()
    timings = measure(contenders, steps, repeats)
    load_after = os.getloadavg()
    rows = summarize(timings, names, args.target)

    print(
        f"# vs_reference: {task.name} (MLP 784-128-128-128-10, float32), {steps} steps, "
        f"{repeats} interleaved repeats (median), {args.threads} thread(s)"
    )
    print(f"# machine: {platform.machine()} {platform.processor() or ''} backend={jax.default_backend()}")
    print(f"# threads: {threads}")
    print(f"# versions: {versions()}")
    print(f"# load average before/after: {load_before[0]:.2f} / {load_after[0]:.2f}")
    print(
        f"\n{'contender':22s} {'first s':>8s} {'median s':>9s} {'steps/s':>9s} {'compile s':>9s} "
        f"{'loss 0':>7s} {'loss T':>7s}"
    )
    for key, row in timings.items():
        print(
            f"{key:22s} {row['first_call_s']:8.2f} {row['median_s']:9.3f} {row['steps_per_s']:9.1f} "
            f"{row['compile_s']:9.2f} {row['initial_loss']:7.3f} {row['final_loss']:7.3f}"
        )
    print(
        f"\n{'optimizer':9s} {'ours st/s':>9s} {'torch st/s':>10s} {'(variant)':>9s} {'ours/torch':>10s} "
        f"{'>= ' + format(args.target, 'g') + 'x':>7s} {'learns':>6s} {'comparable':>10s}"
    )
    for row in rows:
        print(
            f"{row['optimizer']:9s} {row['ours_steps_per_s']:9.1f} {row['torch_steps_per_s']:10.1f} "
            f"{row['torch_variant']:>9s} {row['ours_over_torch']:10.2f} "
            f"{'met' if row['target_met'] else 'NOT met':>7s} {str(row['learns']):>6s} "
            f"{str(row['comparable']):>10s}"
        )
        print(f"{'':9s} per round: " + ", ".join(f"{r:.2f}" for r in row["ours_over_torch_per_round"]))
        if "lopt_steps_per_s" in row:
            print(
                f"{'  lopt':9s} {row['ours_steps_per_s']:9.1f} {row['lopt_steps_per_s']:10.1f} "
                f"{'its loop':>9s} {row['ours_over_lopt']:10.2f} {'':>7s} {'':>6s} "
                f"{str(row['lopt_comparable']):>10s}"
            )
            print(f"{'':9s} per round: " + ", ".join(f"{r:.2f}" for r in row["ours_over_lopt_per_round"]))
    print(f"# total {time.perf_counter() - t0:.1f} s")
    if args.json:
        payload = {
            "config": {
                "task": task.name,
                "steps": steps,
                "repeats": repeats,
                "batch_size": task.batch_size,
                "target": args.target,
                "threads": threads,
                "hyperparameters": {k: HYPERPARAMETERS[k] for k in names},
                "lopt": use_lopt,
            },
            "machine": {
                "platform": platform.platform(),
                "processor": platform.processor(),
                "cpu_count": os.cpu_count(),
                "load_average_before": load_before,
                "load_average_after": load_after,
            },
            "versions": versions(),
            "timings": timings,
            "rows": rows,
        }
        Path(args.json).write_text(json.dumps(payload, indent=2, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
