"""Named task suites with step budgets (DESIGN.md section 4, ALGORITHMS.md section Tasks).

Building a suite creates task configurations only; data loads lazily on first use.

* ``toy``: data-free tasks, well under a second per candidate after compilation: an ill-conditioned
  quadratic, a noisy quadratic, 2-D Rosenbrock, the LJ7 cluster.
* ``cpu-small`` (the quickstart default): a quadratic, 2-D Rosenbrock, an MLP on scikit-learn's real 8x8
  digits, a tiny character-level MLP language model on standard-library text (a few seconds per
  candidate on two CPU cores).
* ``mnist``: the RLLC paper's MLP (784-128-128-128-10) and conv net (32-64-64) on real MNIST (the shipped
  10k test set split 8,000/1,000/1,000, or the canonical 60k/10k files in the user's data directory).
* ``lj``: LJ13 and LJ38 from OptBench-style random starts (reduced units, no cutoff).
* ``heldout``: disjoint from ``cpu-small`` in architecture, data and seeds: a larger rotated quadratic, a
  noisy quadratic, 6-D Rosenbrock, a tanh MLP and a conv net on digits, a smaller MLP on MNIST, a GRU
  character model; its inner-training keys are offset by ``seed=1000``.
* ``gpu``: ResNet-20 on CIFAR-10, the MLP and conv net on Fashion-MNIST and CIFAR-10 and the conv net on
  MNIST, 10,000 steps each as in the RLLC paper (needs the user's data directory with CIFAR-10's binary
  batches and Fashion-MNIST's IDX files); not meant for CPUs.
"""

from __future__ import annotations

from inner_tasks.base import Suite, SuiteEntry
from inner_tasks.char_lm import CharLM
from inner_tasks.image import ImageConv, ImageMLP, ResNet20
from inner_tasks.lj_cluster import LJCluster
from inner_tasks.quadratic import Quadratic
from inner_tasks.rosenbrock import Rosenbrock

__all__ = ["SUITES", "get_suite", "suite_names"]


def _toy() -> Suite:
    return Suite(
        name="toy",
        description="data-free: quadratics (one noisy), 2-D Rosenbrock, LJ7; seconds",
        entries=(
            SuiteEntry(Quadratic(dim=10, condition_number=100.0), num_steps=200, eval_every=20),
            SuiteEntry(
                Quadratic(dim=20, condition_number=10.0, noise_std=0.3, seed=1), num_steps=200, eval_every=20
            ),
            SuiteEntry(Rosenbrock(dim=2), num_steps=300, eval_every=30),
            SuiteEntry(LJCluster(n_atoms=7), num_steps=300, eval_every=30),
        ),
    )


def _cpu_small() -> Suite:
    return Suite(
        name="cpu-small",
        description="quickstart default: quadratic, Rosenbrock, digits MLP, tiny char-LM; seconds per candidate",
        entries=(
            SuiteEntry(Quadratic(dim=10, condition_number=100.0), num_steps=200, eval_every=20),
            SuiteEntry(Rosenbrock(dim=2), num_steps=300, eval_every=30),
            SuiteEntry(ImageMLP(dataset="digits", hidden=(32,), batch_size=64, eval_size=250), 300, 30),
            SuiteEntry(
                CharLM(model="mlp", context=8, embed=8, hidden=64, batch_size=32, eval_size=512), 300, 30
            ),
        ),
    )


def _mnist() -> Suite:
    return Suite(
        name="mnist",
        description="real MNIST: RLLC MLP 784-128-128-128-10 and conv 32-64-64, batch 128",
        entries=(
            SuiteEntry(ImageMLP(dataset="mnist"), num_steps=2000, eval_every=200),
            SuiteEntry(ImageConv(dataset="mnist"), num_steps=1000, eval_every=100),
        ),
    )


def _lj() -> Suite:
    return Suite(
        name="lj",
        description="Lennard-Jones clusters LJ13 and LJ38 from OptBench-style random starts",
        entries=(
            SuiteEntry(LJCluster(n_atoms=13), num_steps=1000, eval_every=100),
            SuiteEntry(LJCluster(n_atoms=38), num_steps=2000, eval_every=200),
        ),
    )


def _heldout() -> Suite:
    return Suite(
        name="heldout",
        description="disjoint from cpu-small: other quadratics, 6-D Rosenbrock, digits tanh-MLP/conv, MNIST, GRU",
        entries=(
            SuiteEntry(Quadratic(dim=50, condition_number=1000.0, seed=7), num_steps=300, eval_every=30),
            SuiteEntry(
                Quadratic(dim=30, condition_number=30.0, noise_std=1.0, seed=8), num_steps=300, eval_every=30
            ),
            SuiteEntry(Rosenbrock(dim=6), num_steps=500, eval_every=50),
            SuiteEntry(
                ImageMLP(dataset="digits", hidden=(64, 64), activation="tanh", batch_size=32, eval_size=250),
                300,
                30,
            ),
            SuiteEntry(ImageConv(dataset="digits", channels=(16, 32), batch_size=32, eval_size=250), 300, 30),
            SuiteEntry(ImageMLP(dataset="mnist", hidden=(64,), batch_size=64), num_steps=300, eval_every=30),
            SuiteEntry(
                CharLM(model="gru", context=16, embed=16, hidden=64, batch_size=16, eval_size=256), 300, 30
            ),
        ),
        seed=1000,
    )


def _gpu() -> Suite:
    return Suite(
        name="gpu",
        description="RLLC App. C.1 on GPU: ResNet-20/CIFAR-10, MLP and conv on Fashion-MNIST, CIFAR-10, MNIST",
        entries=(
            SuiteEntry(ResNet20(dataset="cifar10"), num_steps=10_000, eval_every=500),
            SuiteEntry(ImageMLP(dataset="fashion_mnist"), num_steps=10_000, eval_every=500),
            SuiteEntry(ImageConv(dataset="fashion_mnist"), num_steps=10_000, eval_every=500),
            SuiteEntry(ImageMLP(dataset="cifar10"), num_steps=10_000, eval_every=500),
            SuiteEntry(ImageConv(dataset="cifar10"), num_steps=10_000, eval_every=500),
            SuiteEntry(ImageConv(dataset="mnist"), num_steps=10_000, eval_every=500),
        ),
    )


_BUILDERS = {
    "toy": _toy,
    "cpu-small": _cpu_small,
    "mnist": _mnist,
    "lj": _lj,
    "heldout": _heldout,
    "gpu": _gpu,
}

#: Suites by name (configurations only; no data is loaded until a task is trained).
SUITES: dict[str, Suite] = {name: build() for name, build in _BUILDERS.items()}


def suite_names() -> list[str]:
    """The known suite names."""
    return list(SUITES)


def get_suite(name: str) -> Suite:
    """The suite called ``name``; ``ValueError`` naming it and the known suites otherwise."""
    if name not in SUITES:
        raise ValueError(f"suite: unknown suite {name!r}; known suites: {', '.join(SUITES)}")
    return SUITES[name]
