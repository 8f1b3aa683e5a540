"""Optional dependencies: the web app, TensorBoard and plotting are extras, so a plain
``pip install cnnlab`` stays small. A missing one is one line that says which extra to install.

>>> require("math", "plot", "a test").__name__
'math'
"""

from __future__ import annotations

import importlib
from types import ModuleType

from cnnlab.errors import CnnlabError

EXTRAS = {"serve": "fastapi and uvicorn", "tensorboard": "tensorboard", "plot": "matplotlib"}


class MissingExtra(CnnlabError):
    """An optional dependency is not installed."""


def require(module: str, extra: str, what: str) -> ModuleType:
    """Import ``module``, or raise :class:`MissingExtra`: ``WHAT needs M: pip install 'cnnlab[EXTRA]'``."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtra(
            f"{what} needs {module.split('.')[0]}, which is not installed: pip install 'cnnlab[{extra}]'"
        ) from None
