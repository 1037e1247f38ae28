"""Frankenstein paper, Table 3: force calls to relax LJ38 clusters from random starts (OptBench protocol).

What is measured: for each method, the number of force calls (one energy+force evaluation of the full,
uncut Lennard-Jones potential in reduced units) until the L2 norm of the whole 3N force vector is
<= ``--fmax`` (0.01), from ``--starts`` OptBench-style random starts (``inner_tasks.lj_cluster``,
``random_cluster`` with the keys ``split(key(--seed), --starts)``). A run fails when it needs more than
``--max-calls`` calls or ends above E = -150 (a cluster that flew apart); OptBench's own failure cap is
10,000 calls, so the table also counts the converged runs past 10,000. Reported per method: mean / min /
median / max calls over the converged runs with a bootstrap 95% interval of the mean (percentile,
10,000 resamples over starts), the fraction converged, and the final energies (how many reach the LJ38
global minimum -173.928427, the icosahedral second minimum -173.252378, or other minima).

Methods (float64 throughout):

* ours, JAX, vmapped over a chunk of starts with one compilation per chunk
  (``inner_tasks.lj_cluster.force_calls_to_converge``):
  ``sd`` steepest descent as eON's SD (OptBench's eon-sd row): ``dr = alpha F`` with alpha = 0.001, the
  whole step scaled down so that no atom moves more than 0.2; ``fire`` FIRE at OptBench's ase-fire
  settings (``dt = 1.0``, ``maxstep = 0.2``); ``fire_ase`` FIRE at ASE's defaults (``dt = 0.1``);
  ``frankenstein_code`` / ``_alg1`` / ``_appB``, the published variants (``optimizers.frankenstein``
  presets). The paper gives no step size for this experiment, so each variant's learning rate is chosen
  on ``--tune-starts`` separate starts (keys ``split(key(--seed + 1), ...)``) from ``--tune-lrs``, each
  with and without a per-atom step limit of 0.2 (as ASE's and eON's optimizers apply), by the mean calls
  with failures counted at the tuning cap ``--tune-max-calls`` (ties, e.g. when no start converges: the
  lower median final energy, i.e. the more relaxed clusters).
* external references: SciPy ``minimize`` BFGS and CG (``jac=True``), stopped at the first force call
  whose L2 force norm is <= fmax; ASE's FIRE (OptBench and default settings) and BFGS (defaults) on the
  first ``--ase-starts`` starts with the same potential (a NumPy calculator), to validate our FIRE start
  by start.

Resumable: each cell (method x chunk of starts, tuning point, ASE method) is one JSON file in ``--out``
(written atomically); a rerun skips the cells present. ``summary.json`` there holds every statistic.

    python benchmarks/reproduction/lj38_force_calls.py --quick
    python benchmarks/reproduction/lj38_force_calls.py --figures docs/reproduction/figures
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    # SciPy's and ASE's BFGS do small (114 x 114) linear algebra: BLAS threads only contend
    os.environ.setdefault(_var, "1")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

import optimizers  # noqa: E402
from inner_tasks.lj_cluster import KNOWN_MINIMA, LJCluster, force_calls_to_converge  # noqa: E402
from optimizers.frankenstein import PAPER_POINTS  # noqa: E402

GLOBAL_MIN = KNOWN_MINIMA[38]  # -173.928427, fcc truncated octahedron
SECOND_MIN = -173.252378  # the lowest icosahedral LJ38 minimum (Cambridge Cluster Database)
MIN_TOL = 1e-3  # |E - E_min| below this counts as that minimum
MAX_ENERGY = -150.0  # OptBench / spec failure threshold for LJ38
OPTBENCH_CAP = 10_000
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "lj38_force_calls"

#: Frankenstein paper, Table 3 (values copied from OptBench): mean, min, max force calls.
PAPER = {
    "Steepest Descent": (4901, 1355, 9982),
    "BFGS": (463, 243, 8210),
    "Conjugate Gradient": (453, 207, 1153),
    "Fire": (656, 208, 1000),
    "Frankenstein": (383, 183, 3469),
}
FRANKENSTEIN_VARIANTS = ("frankenstein_code", "frankenstein_alg1", "frankenstein_appB")
JAX_METHODS = ("fire", "fire_ase", *FRANKENSTEIN_VARIANTS, "sd")
SCIPY_METHODS = ("scipy_bfgs", "scipy_cg")
ASE_METHODS = ("ase_fire", "ase_fire_defaults", "ase_bfgs")
ALL_METHODS = (*JAX_METHODS, *SCIPY_METHODS)
PAPER_ROW = {
    "sd": "Steepest Descent",
    "fire": "Fire",
    "fire_ase": "Fire",
    "scipy_bfgs": "BFGS",
    "scipy_cg": "Conjugate Gradient",
    **{v: "Frankenstein" for v in FRANKENSTEIN_VARIANTS},
}
DESCRIPTION = {
    "sd": "steepest descent, alpha=0.001, max atom move 0.2 (eON SD)",
    "fire": "FIRE dt=1.0, maxstep=0.2 (OptBench ase-fire settings)",
    "fire_ase": "FIRE dt=0.1, maxstep=0.2 (ASE defaults)",
    "frankenstein_code": "Frankenstein, authors' code preset",
    "frankenstein_alg1": "Frankenstein, Alg. 1 preset",
    "frankenstein_appB": "Frankenstein, App. B.1 preset",
    "scipy_bfgs": "SciPy BFGS (jac=True)",
    "scipy_cg": "SciPy CG (jac=True)",
    "ase_fire": "ASE FIRE dt=1.0, maxstep=0.2",
    "ase_fire_defaults": "ASE FIRE defaults (dt=0.1, maxstep=0.2)",
    "ase_bfgs": "ASE BFGS defaults (maxstep=0.2, alpha=70)",
}


# --- potential and optimizers -------------------------------------------------------------------------


def lj_numpy(x: np.ndarray) -> tuple[float, np.ndarray]:
    """Energy and gradient ``[N, 3]`` of the uncut LJ cluster (reduced units), in NumPy float64."""
    d = x[:, None, :] - x[None, :, :]
    r2 = np.sum(d * d, axis=-1)
    np.fill_diagonal(r2, np.inf)
    s6 = r2**-3
    energy = 2.0 * float(np.sum(s6 * s6 - s6))  # 4 (r^-12 - r^-6), each pair counted twice
    coef = (24.0 * s6 - 48.0 * s6 * s6) / r2  # u'(r) / r
    return energy, np.sum(coef[:, :, None] * d, axis=1)


def max_atom_move(max_move: float) -> optax.GradientTransformation:
    """Scale the whole step so that the largest per-atom displacement is at most ``max_move`` (eON, ASE)."""

    def update_fn(updates, state, params=None):
        del params
        largest = jnp.max(jnp.sqrt(jnp.sum(updates * updates, axis=-1)))
        scale = jnp.where(largest > max_move, max_move / jnp.maximum(largest, 1e-300), 1.0)
        return updates * scale, state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update_fn)


def steepest_descent(alpha: float = 1e-3, max_move: float = 0.2) -> optax.GradientTransformation:
    """eON's fixed-step SD: ``dr = alpha F = -alpha g``, then the per-atom move limit."""
    return optax.chain(optax.sgd(alpha), max_atom_move(max_move))


def frankenstein_opt(variant: str, lr: float, max_move: float | None) -> optax.GradientTransformation:
    """A Frankenstein preset with learning rate ``lr`` (and the optional per-atom move limit)."""
    opt = optimizers.build({"family": "frankenstein", **PAPER_POINTS[variant], "learning_rate": lr})
    return opt if max_move is None else optax.chain(opt, max_atom_move(max_move))


# --- cells ---------------------------------------------------------------------------------------------


def _write_atomic(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


class Cells:
    """Per-cell JSON store: ``get(name, compute)`` loads the cell or computes and writes it."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.computed = 0
        self.skipped = 0

    def get(self, name: str, compute: Callable[[], dict]) -> dict:
        path = self.out / "cells" / f"{name}.json"
        if path.exists():
            self.skipped += 1
            return json.loads(path.read_text())
        t0 = time.perf_counter()
        data = compute()
        data["seconds"] = round(time.perf_counter() - t0, 2)
        _write_atomic(path, data)
        self.computed += 1
        return data


def _result_dict(calls, converged, energy, fnorm) -> dict:
    return {
        "calls": [int(c) for c in calls],
        "converged": [bool(c) for c in converged],
        "energy": [float(e) for e in energy],
        "force_norm": [float(f) for f in fnorm],
    }


def run_jax(opt, starts: np.ndarray, fmax: float, max_calls: int) -> dict:
    """Relax ``starts`` with ``opt`` (vmapped, one compilation) and return the per-start results."""
    task = LJCluster(38, dtype="float64")
    r = force_calls_to_converge(
        opt, fmax, task=task, starts=starts, max_calls=max_calls, max_energy=MAX_ENERGY
    )
    return _result_dict(r.calls, r.converged, r.energy, r.force_norm)


class _Stop(Exception):
    pass


def run_scipy(method: str, x0: np.ndarray, fmax: float, max_calls: int) -> tuple[int, bool, float, float]:
    """One SciPy minimisation; stops at the first call with ``|F|_2 <= fmax`` (or after ``max_calls``)."""
    from scipy.optimize import minimize

    last = {"calls": 0, "e": math.inf, "gn": math.inf, "hit": False}

    def fun(flat):
        e, g = lj_numpy(flat.reshape(-1, 3))
        gn = float(np.linalg.norm(g))
        last.update(calls=last["calls"] + 1, e=e, gn=gn)
        if gn <= fmax:
            last["hit"] = True
            raise _Stop
        if last["calls"] >= max_calls:
            raise _Stop
        return e, g.ravel()

    try:
        minimize(
            fun, x0.ravel(), jac=True, method=method, options={"gtol": fmax, "norm": 2, "maxiter": max_calls}
        )
    except _Stop:
        pass
    ok = last["hit"] and last["e"] <= MAX_ENERGY
    return last["calls"], ok, last["e"], last["gn"]


def run_ase(method: str, x0: np.ndarray, fmax: float, max_calls: int) -> tuple[int, bool, float, float]:
    """One ASE relaxation with our potential; the OptBench rule (L2 norm) checked before each step."""
    from ase import Atoms
    from ase.calculators.calculator import Calculator, all_changes
    from ase.optimize import BFGS, FIRE

    class CountingLJ(Calculator):
        implemented_properties = ["energy", "forces"]

        def __init__(self) -> None:
            super().__init__()
            self.calls = 0

        def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
            super().calculate(atoms, properties, system_changes)
            self.calls += 1
            e, g = lj_numpy(self.atoms.positions)
            self.results = {"energy": e, "forces": -g}

    atoms = Atoms("H38", positions=np.asarray(x0, np.float64))
    calc = CountingLJ()
    atoms.calc = calc
    if method == "ase_fire":
        opt = FIRE(atoms, logfile=None, dt=1.0, maxstep=0.2)
    elif method == "ase_fire_defaults":
        opt = FIRE(atoms, logfile=None)
    else:
        opt = BFGS(atoms, logfile=None)
    while True:
        f = atoms.get_forces()
        fn = float(np.linalg.norm(f))
        if fn <= fmax or calc.calls >= max_calls:
            break
        opt.step()
    e = float(atoms.get_potential_energy())
    return calc.calls, fn <= fmax and e <= MAX_ENERGY, e, fn


# --- statistics ----------------------------------------------------------------------------------------


def bootstrap_mean_ci(values: np.ndarray, num: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap 95% interval of the mean (``num`` resamples)."""
    if len(values) < 2:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(num, len(values)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def method_stats(res: dict) -> dict:
    """Summary statistics of one method's per-start results."""
    calls = np.asarray(res["calls"])
    ok = np.asarray(res["converged"], bool)
    energy = np.asarray(res["energy"])
    n = len(calls)
    c = calls[ok]
    lo, hi = bootstrap_mean_ci(c.astype(float))
    finite = ok & np.isfinite(energy)
    stats = {
        "n": n,
        "converged": int(ok.sum()),
        "fraction_converged": float(ok.mean()) if n else math.nan,
        "failed": int(n - ok.sum()),
        "converged_past_10000": int(np.sum(c > OPTBENCH_CAP)),
        "mean": float(c.mean()) if len(c) else math.nan,
        "mean_ci95": [lo, hi],
        "min": int(c.min()) if len(c) else None,
        "median": float(np.median(c)) if len(c) else math.nan,
        "max": int(c.max()) if len(c) else None,
        "mean_optbench_cap": float(c[c <= OPTBENCH_CAP].mean()) if np.any(c <= OPTBENCH_CAP) else math.nan,
        "mean_optbench_cap_ci95": list(bootstrap_mean_ci(c[c <= OPTBENCH_CAP].astype(float))),
        "global_min": int(np.sum(finite & (np.abs(energy - GLOBAL_MIN) < MIN_TOL))),
        "second_min": int(np.sum(finite & (np.abs(energy - SECOND_MIN) < MIN_TOL))),
        "energy_quantiles": [float(q) for q in np.quantile(energy[finite], [0, 0.25, 0.5, 0.75, 1])]
        if finite.any()
        else [],
        "distinct_minima": int(len(np.unique(np.round(energy[finite], 3)))),
    }
    return stats


def _merge(parts: list[dict]) -> dict:
    return {k: [v for p in parts for v in p[k]] for k in ("calls", "converged", "energy", "force_norm")}


# --- main ----------------------------------------------------------------------------------------------


def make_starts(seed: int, num: int) -> np.ndarray:
    """``num`` OptBench-style LJ38 starts from ``split(key(seed), num)``, float64 ``[num, 38, 3]``."""
    task = LJCluster(38, dtype="float64")
    return np.asarray(jax.vmap(task.init)(jax.random.split(jax.random.key(seed), num)))


def tune_frankenstein(cells: Cells, args, tune_starts: np.ndarray) -> dict:
    """Each variant's (learning rate, move limit) from the tuning grid; returns the table and choices."""
    table, chosen = {}, {}
    for variant in args.variants:
        rows = []
        for max_move in args.tune_moves:
            for lr in args.tune_lrs:
                tag = f"tune_{variant}_lr{lr:g}_move{max_move or 0:g}"
                res = cells.get(
                    tag,
                    lambda v=variant, lr=lr, mm=max_move: run_jax(
                        frankenstein_opt(v, lr, mm), tune_starts, args.fmax, args.tune_max_calls
                    ),
                )
                calls = np.asarray(res["calls"], float)
                ok = np.asarray(res["converged"], bool)
                score = float(np.where(ok, calls, args.tune_max_calls).mean())
                rows.append(
                    {
                        "learning_rate": lr,
                        "max_move": max_move,
                        "converged": int(ok.sum()),
                        "n": len(ok),
                        "score": score,
                        "median_force_norm": float(np.median(res["force_norm"])),
                        "median_energy": float(np.median(res["energy"])),
                    }
                )
        best = min(rows, key=lambda r: (r["score"], r["median_energy"]))
        table[variant] = rows
        chosen[variant] = {"learning_rate": best["learning_rate"], "max_move": best["max_move"]}
    return {"grid": table, "chosen": chosen}


def build_jax_method(name: str, chosen: dict) -> optax.GradientTransformation:
    if name == "sd":
        return steepest_descent(1e-3, 0.2)
    if name == "fire":
        return optimizers.build({"family": "fire", "dt": 1.0, "max_step": 0.2})
    if name == "fire_ase":
        return optimizers.build({"family": "fire"})
    c = chosen[name]
    return frankenstein_opt(name, c["learning_rate"], c["max_move"])


def run_all(args) -> dict:
    cells = Cells(args.out)
    starts = make_starts(args.seed, args.starts)
    summary: dict[str, Any] = {
        "config": {
            k: (str(v) if isinstance(v, Path) else v)
            for k, v in vars(args).items()
            if k not in ("json", "figures", "out")
        },
        "versions": {"jax": jax.__version__, "numpy": np.__version__, "optax": optax.__version__},
        "paper": PAPER,
        "methods": {},
    }
    results: dict[str, dict] = {}
    chosen: dict = {}
    if any(m in FRANKENSTEIN_VARIANTS for m in args.methods):
        tune = tune_frankenstein(cells, args, make_starts(args.seed + 1, args.tune_starts))
        summary["tuning"] = tune
        chosen = tune["chosen"]
    for name in args.methods:
        n = min(args.limit.get(name, args.starts), args.starts)
        parts = []
        for lo in range(0, n, args.chunk):
            hi = min(lo + args.chunk, n)
            if name in JAX_METHODS:
                tag = f"{name}_{lo:04d}-{hi:04d}"
                if name in FRANKENSTEIN_VARIANTS:
                    c = chosen[name]
                    tag = f"{name}_lr{c['learning_rate']:g}_move{c['max_move'] or 0:g}_{lo:04d}-{hi:04d}"
                parts.append(
                    cells.get(
                        tag,
                        lambda name=name, lo=lo, hi=hi: run_jax(
                            build_jax_method(name, chosen), starts[lo:hi], args.fmax, args.max_calls
                        ),
                    )
                )
            else:
                method = "BFGS" if name == "scipy_bfgs" else "CG"

                def compute(lo=lo, hi=hi, method=method):
                    out = [run_scipy(method, starts[i], args.fmax, args.max_calls) for i in range(lo, hi)]
                    return _result_dict(*zip(*out))

                parts.append(cells.get(f"{name}_{lo:04d}-{hi:04d}", compute))
        results[name] = _merge(parts)
        summary["methods"][name] = method_stats(results[name])
    if args.ase_starts:
        n = min(args.ase_starts, args.starts)
        for name in ASE_METHODS:

            def compute_ase(name=name):
                out = [run_ase(name, starts[i], args.fmax, args.max_calls) for i in range(n)]
                return _result_dict(*zip(*out))

            results[name] = cells.get(f"{name}_0000-{n:04d}", compute_ase)
            summary["methods"][name] = method_stats(results[name])
        summary["ase_validation"] = {}
        for ours, ref in (("fire", "ase_fire"), ("fire_ase", "ase_fire_defaults")):
            if ours in results:
                a = np.asarray(results[ours]["calls"][:n])
                b = np.asarray(results[ref]["calls"])
                ea = np.asarray(results[ours]["energy"][:n])
                eb = np.asarray(results[ref]["energy"])
                summary["ase_validation"][ours] = {
                    "reference": ref,
                    "n": n,
                    "same_calls": int(np.sum(a == b)),
                    "max_abs_call_diff": int(np.max(np.abs(a - b))),
                    "same_minimum": int(np.sum(np.abs(ea - eb) < MIN_TOL)),
                    "mean_ours": float(a.mean()),
                    "mean_ase": float(b.mean()),
                }
    summary["cells"] = {"computed": cells.computed, "skipped": cells.skipped}
    _write_atomic(args.out / "summary.json", summary)
    if args.figures:
        summary["figures"] = make_figures(results, args.figures)
    return summary


def make_figures(results: dict, folder: Path) -> list[str]:
    """ECDF of force calls (converged runs) and final-energy histograms per method; returns the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    names = [m for m in (*ALL_METHODS, *ASE_METHODS) if m in results]
    fig, ax = plt.subplots(figsize=(8, 5))
    for name in names:
        r = results[name]
        calls = np.sort(np.asarray(r["calls"])[np.asarray(r["converged"], bool)])
        n = len(r["calls"])
        if len(calls):
            y = np.arange(1, len(calls) + 1) / n  # reaches the fraction converged, not 1
            ls = ":" if name.startswith("ase_") else "-"
            ax.step(calls, y, where="post", ls=ls, label=f"{name} (n={n})")
    ax.axvline(OPTBENCH_CAP, color="gray", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.set_xlabel("force calls to |F|_2 <= 0.01")
    ax.set_ylabel("fraction of starts converged")
    ax.set_title("LJ38, OptBench-style random starts")
    ax.legend(fontsize=7)
    fig.tight_layout()
    p1 = folder / "lj38_force_calls_ecdf.png"
    fig.savefig(p1, dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 5))
    bins = np.linspace(-174.5, -150, 60)
    for name in names:
        e = np.asarray(results[name]["energy"])
        e = e[np.asarray(results[name]["converged"], bool)]
        if len(e):
            ax.hist(np.clip(e, bins[0], bins[-1]), bins=bins, histtype="step", label=name)
    ax.axvline(GLOBAL_MIN, color="k", lw=0.8, ls="--")
    ax.set_xlabel("final energy (converged runs)")
    ax.set_ylabel("starts")
    ax.set_title(f"LJ38 final energies (dashed: global minimum {GLOBAL_MIN})")
    ax.legend(fontsize=7)
    fig.tight_layout()
    p2 = folder / "lj38_force_calls_energies.png"
    fig.savefig(p2, dpi=120)
    plt.close(fig)
    return [str(p1), str(p2)]


def print_table(summary: dict) -> None:
    print(
        f"{'method':<20}{'n':>6}{'conv':>6}{'>10k':>6}{'mean':>9}{'95% CI':>18}{'min':>7}{'median':>8}"
        f"{'max':>7}{'paper':>18}{'glob':>6}"
    )
    for name, s in summary["methods"].items():
        paper = PAPER.get(PAPER_ROW.get(name, ""), None)
        ptxt = "/".join(str(v) for v in paper) if paper else "-"
        ci = s["mean_ci95"]
        citxt = f"[{ci[0]:.0f}, {ci[1]:.0f}]" if not math.isnan(ci[0]) else "-"
        print(
            f"{name:<20}{s['n']:>6}{s['converged']:>6}{s['converged_past_10000']:>6}{s['mean']:>9.1f}"
            f"{citxt:>18}{s['min'] if s['min'] is not None else '-':>7}{s['median']:>8.0f}"
            f"{s['max'] if s['max'] is not None else '-':>7}{ptxt:>18}{s['global_min']:>6}"
        )
    if "tuning" in summary:
        for v, c in summary["tuning"]["chosen"].items():
            print(f"tuned {v}: learning_rate={c['learning_rate']:g}, max_move={c['max_move']}")
    for ours, v in summary.get("ase_validation", {}).items():
        print(
            f"{ours} vs {v['reference']} on {v['n']} starts: same calls {v['same_calls']}/{v['n']}, "
            f"max |diff| {v['max_abs_call_diff']}, same minimum {v['same_minimum']}/{v['n']}"
        )
    print(f"cells computed {summary['cells']['computed']}, skipped {summary['cells']['skipped']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny run (3 starts, low caps), seconds")
    parser.add_argument("--starts", type=int, default=1000)
    parser.add_argument(
        "--limit",
        action="append",
        default=[],
        metavar="METHOD=N",
        help="run METHOD on the first N starts only (repeatable; for the slow methods)",
    )
    parser.add_argument("--chunk", type=int, default=100, help="starts per vmapped cell")
    parser.add_argument("--seed", type=int, default=0, help="starts: split(key(seed)); tuning: key(seed + 1)")
    parser.add_argument("--fmax", type=float, default=0.01, help="L2 force-norm tolerance")
    parser.add_argument("--max-calls", type=int, default=20_000)
    parser.add_argument("--methods", nargs="+", default=list(ALL_METHODS), choices=ALL_METHODS)
    parser.add_argument(
        "--variants", nargs="+", default=list(FRANKENSTEIN_VARIANTS), choices=FRANKENSTEIN_VARIANTS
    )
    parser.add_argument("--tune-lrs", nargs="+", type=float, default=[1e-3, 1e-2, 1e-1, 1.0, 10.0])
    parser.add_argument("--tune-starts", type=int, default=8)
    parser.add_argument("--tune-max-calls", type=int, default=5000)
    parser.add_argument("--ase-starts", type=int, default=20, help="0 skips ASE")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--figures", type=Path, default=None, help="write the PNG plots here")
    parser.add_argument("--json", type=Path, default=None, help="also write the summary here")
    args = parser.parse_args(argv)
    jax.config.update("jax_enable_x64", True)  # float64 throughout (a script: no array exists yet)
    try:
        args.limit = {k: int(v) for k, v in (item.split("=") for item in args.limit)}
    except ValueError:
        parser.error("--limit: expected METHOD=N")
    if unknown := set(args.limit) - set(ALL_METHODS):
        parser.error(f"--limit: unknown methods {sorted(unknown)}")
    args.tune_moves = (None, 0.2)
    if args.quick:
        args.starts, args.chunk, args.max_calls = 3, 3, 3000
        args.tune_lrs, args.tune_moves, args.tune_starts, args.tune_max_calls = [1.0], (None,), 2, 200
        args.ase_starts = min(args.ase_starts, 2)
        if args.out == DEFAULT_OUT:
            args.out = DEFAULT_OUT.with_name("lj38_force_calls_quick")
    args.variants = [v for v in args.variants if v in args.methods] or args.variants
    summary = run_all(args)
    print_table(summary)
    if args.json:
        _write_atomic(args.json, summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
