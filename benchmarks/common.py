"""Shared bits of the benchmark scripts: machine description, table printing, JSON output."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch

RESULTS = Path(__file__).parent / "results"
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # run from a checkout without installing


def seconds(fn, repeats: int = 3) -> float:
    """The best of ``repeats`` timings of ``fn()``, after one warm-up call."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    flags: set[str] = set()
    named = False
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "model name" and not named and value.strip():
                cpu, named = value.strip(), True
            elif key in ("flags", "Features") and not flags:  # x86 / ARM
                flags = set(value.split())
    except OSError:
        pass
    info = {
        "cpu": cpu,
        # native bf16 arithmetic decides whether bf16 autocast pays on a CPU (avx512_bf16, amx_bf16)
        "cpu_bf16": sorted(f for f in flags if "bf16" in f),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info


def print_table(rows: list[dict[str, Any]], columns: list[tuple[str, str, str]]) -> None:
    """columns: (key, header, format spec) ; None values print as the em dash."""

    def cell(row, key, fmt):
        v = row.get(key)
        if v is None:
            return "—"
        return format(v, fmt) if fmt and not isinstance(v, str) else str(v)

    table = [[h for _, h, _ in columns]] + [[cell(r, k, f) for k, _, f in columns] for r in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(columns))]
    for i, r in enumerate(table):
        print("  ".join(c.rjust(w) if j else c.ljust(w) for j, (c, w) in enumerate(zip(r, widths))))
        if i == 0:
            print("  ".join("-" * w for w in widths))


def write_json(name: str, payload: dict[str, Any], out: str | None = None) -> Path:
    path = Path(out) if out else RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"machine": machine(), **payload}, indent=2) + "\n")
    tmp.replace(path)
    print(f"\nwrote {path}")
    return path


def device_or_exit(name: str) -> torch.device:
    """The torch device ``name`` names, or one line on stderr and exit status 1 when this machine
    has none (``--device cuda`` without a GPU): a benchmark without its device measures nothing."""
    from cnnlab.device import resolve_device
    from cnnlab.errors import CnnlabError

    try:
        return resolve_device(name)
    except CnnlabError as e:
        sys.exit(f"{Path(sys.argv[0]).name}: {e}")
