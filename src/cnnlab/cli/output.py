"""Small helpers shared by the commands: printing JSON results."""

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
