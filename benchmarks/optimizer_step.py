"""Jitted update time of every registered optimizer against its memory-traffic floor.

For each family (and a few structural variants: CoRe with the stability-plasticity balance, linear
memory with K = 1, 2, 4 memory units) the script times one jitted ``update`` on a float32 tree of about
one million parameters in several tensors, with the optimizer state donated, and prints two ratios
measured side by side in this one run:

* ``vs floor``: step time / (arrays read + written per step x the time of one pass over 1M floats).
  The pass time is measured here with a fused elementwise kernel (``a*x + y``: 2 reads, 1 write), and
  the number of arrays is read off the transform itself (gradient, the params if the update uses them,
  every parameter-sized state array read and written, the update written).
* ``vs adam``: step time / ``optax.adam``'s step time.

Usage::

    python benchmarks/optimizer_step.py            # full: 1M parameters, 50 timed repeats
    python benchmarks/optimizer_step.py --quick    # seconds: 64k parameters, 5 repeats
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.extend.core import Literal

import optimizers

VARIANTS: dict[str, dict] = {
    "core (balance on)": {"family": "core", "t_hist": 250, "p_frozen": 0.1},
    "linear_memory K=1": {"family": "linear_memory", "propagators": [{"kind": "real", "lam": 0.9}]},
    "linear_memory K=2": {
        "family": "linear_memory",
        "propagators": [{"kind": "real", "lam": 0.0}, {"kind": "real", "lam": 0.9}],
    },
    "linear_memory K=4": {
        "family": "linear_memory",
        "propagators": [
            {"kind": "real", "lam": 0.5},
            {"kind": "complex", "r": 0.9, "phi": 2.0},
            {"kind": "real", "lam": 0.99},
        ],
    },
}


def make_tree(num_params: int, key: jax.Array) -> dict[str, jax.Array]:
    """A tree of several tensors (a matrix, a conv-like kernel, vectors) with about ``num_params``."""
    side = int(np.sqrt(num_params * 0.7))
    shapes = {
        "dense": (side, side),
        "conv": (3, 3, 16, max(1, int(num_params * 0.25) // 144)),
        "bias": (side,),
        "scale": (max(1, num_params // 20),),
    }
    keys = jax.random.split(key, len(shapes))
    return {
        name: jax.random.normal(k, shape, dtype=jnp.float32) for (name, shape), k in zip(shapes.items(), keys)
    }


def num_elements(tree) -> int:
    return sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(tree))


def timeit(fn, *args, repeats: int) -> float:
    """Median wall time of ``fn(*args)`` (the result is blocked on), after one warm-up call."""
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def pass_time(tree, repeats: int) -> float:
    """Time of one read-or-write pass over all of ``tree``'s floats (from a fused 2-read, 1-write axpy)."""
    axpy = jax.jit(lambda x, y: jax.tree.map(lambda a, b: 0.5 * a + b, x, y))
    other = jax.tree.map(jnp.ones_like, tree)
    return timeit(axpy, tree, other, repeats=repeats) / 3.0


def traffic(opt, params, grads) -> tuple[float, float]:
    """(arrays read, arrays written) per step, in units of the parameter tree's size."""
    state = opt.init(params)
    size = num_elements(params)
    state_arrays = (
        sum(leaf.size for leaf in jax.tree.leaves(state) if hasattr(leaf, "size") and leaf.size >= size // 50)
        / size
    )
    closed = jax.make_jaxpr(lambda g, s, p: opt.update(g, s, p))(grads, state, params)
    jaxpr = closed.jaxpr
    num_g = len(jax.tree.leaves(grads))
    num_s = len(jax.tree.leaves(state))
    param_vars = set(jaxpr.invars[num_g + num_s :])
    used = set()
    for eqn in jaxpr.eqns:
        used.update(v for v in eqn.invars if not isinstance(v, Literal))
    used.update(v for v in jaxpr.outvars if not isinstance(v, Literal))
    reads_params = bool(param_vars & used)
    reads = 1.0 + state_arrays + (1.0 if reads_params else 0.0)
    writes = 1.0 + state_arrays
    return reads, writes


def step_time(opt, params, grads, repeats: int) -> float:
    state = opt.init(params)
    update = jax.jit(lambda g, s, p: opt.update(g, s, p), donate_argnums=(1,))
    # Thread the donated state through successive calls.
    holder = {"state": state}

    def call(g, p):
        updates, holder["state"] = update(g, holder["state"], p)
        return updates

    return timeit(call, grads, params, repeats=repeats)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="64k parameters, 5 repeats (seconds)")
    parser.add_argument("--num-params", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--only", nargs="*", default=None, help="families or variant names to run")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    num_params = args.num_params or (65_536 if args.quick else 1_000_000)
    repeats = args.repeats or (5 if args.quick else 50)

    key = jax.random.key(0)
    params = make_tree(num_params, key)
    grads = jax.tree.map(lambda p: 0.01 * p + 0.001, params)
    n = num_elements(params)
    t_pass = pass_time(params, repeats)
    t_adam = step_time(optax.adam(1e-3), params, grads, repeats)
    print(f"# optimizer_step: {n:,} float32 parameters in {len(params)} tensors; {repeats} repeats")
    print(f"# machine: {platform.machine()} {platform.processor() or ''} backend={jax.default_backend()}")
    print(
        f"# jax {jax.__version__}, optax {optax.__version__}; one pass over the tree: {t_pass * 1e3:.3f} ms"
    )
    print(
        f"{'optimizer':28s} {'ms/step':>9s} {'reads':>6s} {'writes':>6s} {'floor ms':>9s} {'vs floor':>9s} {'vs adam':>8s}"
    )
    rows = []
    cases = {family: {"family": family} for family in optimizers.REGISTRY}
    cases.update({name: spec for name, spec in VARIANTS.items() if spec["family"] in optimizers.REGISTRY})
    for name, spec in cases.items():
        if args.only and name not in args.only and spec["family"] not in args.only:
            continue
        opt = optimizers.build(spec)
        if optimizers.REGISTRY[spec["family"]].needs_value:
            print(f"{name:28s} (needs the loss; skipped)")
            continue
        reads, writes = traffic(opt, params, grads)
        t = step_time(opt, params, grads, repeats)
        floor = (reads + writes) * t_pass
        print(
            f"{name:28s} {t * 1e3:9.3f} {reads:6.1f} {writes:6.1f} {floor * 1e3:9.3f} {t / floor:9.2f} {t / t_adam:8.2f}"
        )
        rows.append(
            {
                "name": name,
                "ms": t * 1e3,
                "reads": reads,
                "writes": writes,
                "vs_floor": t / floor,
                "vs_adam": t / t_adam,
            }
        )
    if args.json:
        args.json.write_text(json.dumps({"num_params": n, "pass_ms": t_pass * 1e3, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
