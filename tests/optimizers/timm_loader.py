"""Import ``timm.optim.adan`` alone, without running timm's package ``__init__``.

timm is installed with ``pip install --no-deps timm`` (its dependency torchvision would replace the local
torch). Its package ``__init__`` imports torchvision, so we register empty module shells for ``timm`` and
``timm.optim`` whose ``__path__`` points at the installed folders, then import the ``adan`` submodule,
which needs only torch (and ``timm.optim._helpers``, also torch-only).
"""

from __future__ import annotations

import importlib
import importlib.machinery
import sys
import types
from pathlib import Path

__all__ = ["load_timm_adan"]


def _shell(name: str, folder: Path) -> types.ModuleType:
    existing = sys.modules.get(name)
    if existing is not None:
        return existing
    module = types.ModuleType(name)
    module.__path__ = [str(folder)]
    module.__package__ = name
    sys.modules[name] = module
    return module


def load_timm_adan() -> type:
    """Return ``timm.optim.Adan`` (the class), or raise ``ImportError`` if timm or torch is missing."""
    loaded = sys.modules.get("timm.optim.adan")
    if loaded is not None:
        return loaded.Adan
    importlib.import_module("torch")
    spec = importlib.machinery.PathFinder.find_spec("timm")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("timm is not installed (pip install --no-deps timm)")
    root = Path(next(iter(spec.submodule_search_locations)))
    _shell("timm", root)
    _shell("timm.optim", root / "optim")
    return importlib.import_module("timm.optim.adan").Adan
