"""Small helpers shared by the commands: printing JSON results, and figures rounded for
people (JSON keeps every digit)."""

from __future__ import annotations

import json
import sys
from typing import Any


def print_json(obj: Any) -> None:
    """One JSON object on one line of stdout (the machine-readable contract)."""
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def info(message: str, to_stderr: bool = False) -> None:
    print(message, file=sys.stderr if to_stderr else sys.stdout, flush=True)


def percent(fraction: float) -> str:
    """A rate for people: ``0.20999999999999996`` -> ``"21.00%"`` (two decimals)."""
    return f"{100 * fraction:.2f}%"


def loss(value: float) -> str:
    """A loss for people, four significant digits: ``2.2288514709`` -> ``"2.229"``,
    ``0.000123456`` -> ``"0.0001235"``, ``1e30`` -> ``"1e+30"``."""
    return f"{value:.4g}"
