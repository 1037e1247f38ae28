"""Inner tasks: the Task interface, data loaders, tasks, suites, the training loop and scoring.

Importing this package loads no data: tasks are configurations, and their arrays are read on first use.
The learned_optimization adapter (``inner_tasks.lopt_adapter``) is imported only on demand.
"""

from inner_tasks import scoring, training
from inner_tasks.base import SPLITS, Datasets, Suite, SuiteEntry, Task, TaskFamily
from inner_tasks.char_lm import CharLM
from inner_tasks.data.paths import DataError
from inner_tasks.image import ImageConv, ImageMLP, ResNet20
from inner_tasks.lj_cluster import KNOWN_MINIMA, ForceCallResult, LJCluster, force_calls_to_converge
from inner_tasks.quadratic import Quadratic, QuadraticFamily
from inner_tasks.rosenbrock import Rosenbrock
from inner_tasks.scoring import DIVERGED_PENALTY, Reference, TaskScore, fitness, score, tuned_reference
from inner_tasks.suites import SUITES, get_suite, suite_names
from inner_tasks.training import TrainResult, choose_path, compile_count, train, train_population

__all__ = [
    "CharLM",
    "DIVERGED_PENALTY",
    "DataError",
    "Datasets",
    "ForceCallResult",
    "ImageConv",
    "ImageMLP",
    "KNOWN_MINIMA",
    "LJCluster",
    "Quadratic",
    "QuadraticFamily",
    "Reference",
    "ResNet20",
    "Rosenbrock",
    "SPLITS",
    "SUITES",
    "Suite",
    "SuiteEntry",
    "Task",
    "TaskFamily",
    "TaskScore",
    "TrainResult",
    "choose_path",
    "compile_count",
    "fitness",
    "force_calls_to_converge",
    "get_suite",
    "score",
    "scoring",
    "suite_names",
    "train",
    "train_population",
    "training",
    "tuned_reference",
]
