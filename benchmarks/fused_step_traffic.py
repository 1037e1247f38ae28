"""Memory traffic of one Adan / Frankenstein step against the floor (a script, not a test).

Run: ``python benchmarks/fused_step_traffic.py [--size 4194304] [--repeats 30]``.

For one float32 leaf of ``size`` elements, the floor of an elementwise optimizer step is reading every
input array once (gradient, state, params when weight decay needs them) and writing every output once
(update, new state). The script reports, per optimizer:

* ``hlo``: XLA's own count of bytes accessed by the compiled step (``cost_analysis``), divided by the floor:
  1.0 means one pass (one multi-output fusion); each extra materialised intermediate adds to it;
* ``time``: the measured step time divided by the time of a streaming kernel that reads and writes the
  same number of arrays (best of ``repeats``, interleaved, to resist noise from other processes).
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from optimizers.adan import adan
from optimizers.frankenstein import from_point


def _cases():
    return {
        "optax.adam": (optax.adam(1e-3), False),
        "adan": (adan(1e-3), False),
        "adan wd=0.02 (prox)": (adan(1e-3, weight_decay=0.02), True),
        "frankenstein adam": (from_point("adam"), False),
        "frankenstein amsgrad": (from_point("amsgrad"), False),
        "frankenstein_code": (from_point("frankenstein_code"), False),
        "frankenstein_appB": (from_point("frankenstein_appB"), False),
        "frankenstein_code wd": (from_point("frankenstein_code", weight_decay=0.01), True),
    }


def _arrays(tree) -> int:
    return sum(1 for leaf in jax.tree.leaves(tree) if getattr(leaf, "ndim", 0) > 0)


def _floor_kernel(num_in: int, num_out: int):
    """Reads ``num_in`` arrays, writes ``num_out``, one pass each (the streaming floor)."""

    def kernel(*xs):
        first = xs[0]
        for x in xs[num_out:]:
            first = first + x
        return (first,) + tuple(x * 1.5 for x in xs[1:num_out])

    return jax.jit(kernel)


def _best(fn, args, repeats):
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=None, help="elements of the leaf (default 2^22)")
    parser.add_argument("--repeats", type=int, default=None, help="timed calls, best kept (default 30)")
    parser.add_argument("--quick", action="store_true", help="2^16 elements, 3 repeats (seconds)")
    args = parser.parse_args(argv)
    args.size = args.size or (1 << 16 if args.quick else 1 << 22)
    args.repeats = args.repeats or (3 if args.quick else 30)
    rng = np.random.default_rng(0)
    params = jnp.asarray(rng.normal(size=args.size), jnp.float32)
    grads = jnp.asarray(rng.normal(size=args.size), jnp.float32)
    nbytes = params.size * params.dtype.itemsize
    print(
        f"backend {jax.default_backend()}, one float32 leaf of {args.size} elements ({nbytes / 2**20:.0f} MiB)"
    )
    print(f"{'optimizer':24s} {'in':>3s} {'out':>3s} {'hlo/floor':>10s} {'time/floor':>11s} {'ms':>8s}")
    for name, (opt, needs_params) in _cases().items():
        state = opt.init(params)
        # warm the state so that the counters are past step 1
        state = jax.jit(opt.update)(grads, state, params)[1]
        step = jax.jit(opt.update)
        call_args = (grads, state, params)
        num_in = 1 + _arrays(state) + (1 if needs_params else 0)
        out = step(*call_args)
        # outputs that are inputs (Adan's new previous gradient is the gradient) are forwarded, not written
        jaxpr = jax.make_jaxpr(opt.update)(*call_args).jaxpr
        invars = {id(v) for v in jaxpr.invars}
        forwarded = sum(1 for v in jaxpr.outvars if id(v) in invars and v.aval.ndim > 0)
        num_out = _arrays(out) - forwarded
        floor_bytes = (num_in + num_out) * nbytes
        cost = step.lower(*call_args).compile().cost_analysis()
        cost = cost[0] if isinstance(cost, list) else cost
        hlo_ratio = float(cost.get("bytes accessed", float("nan"))) / floor_bytes
        floor = _floor_kernel(num_in, num_out)
        floor_args = [grads + i for i in range(num_in)]
        ratios, best = [], float("inf")
        for _ in range(3):
            t_step = _best(step, call_args, args.repeats)
            t_floor = _best(floor, floor_args, args.repeats)
            ratios.append(t_step / t_floor)
            best = min(best, t_step)
        print(
            f"{name:24s} {num_in:3d} {num_out:3d} {hlo_ratio:10.2f} {min(ratios):11.2f} {best * 1e3:8.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
