"""cnnlab's size counts against the tools people use for them (torchinfo, fvcore, ptflops,
thop): parameters and MACs on the lecture's models, torchvision nets and the cases that
trip counters up, each against a count worked by hand (``HAND``; see docs/size.md).

    python benchmarks/size_peers.py        # ~1 min on 2 CPU cores; needs torchinfo fvcore ptflops thop

Writes benchmarks/results/size_peers.json and the table in docs/size.md (between its
``size_peers`` markers). A peer that is not installed, or fails on a model, shows "—".
"""

from __future__ import annotations

import contextlib
import copy
import io
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

import common
from cnnlab.models import create
from cnnlab.size import analyze

L, E = 20, 64  # sequence length and width of the sequence models


class FunctionalNet(nn.Module):
    """Its own parameters through ``F.conv2d`` and ``@``: no conv or linear module."""

    def __init__(self) -> None:
        super().__init__()
        self.w1 = nn.Parameter(torch.randn(8, 1, 3, 3))
        self.w2 = nn.Parameter(torch.randn(8 * 26 * 26, 10))

    def forward(self, x):  # (N, 1, 28, 28)
        return F.conv2d(x, self.w1).flatten(1) @ self.w2  # (N, 10)


class Reused(nn.Module):
    """One Linear called three times."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(E, E)

    def forward(self, x):
        return self.fc(self.fc(self.fc(x)))


class Sequence(nn.Module):
    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        if kind == "attention":
            self.layer = nn.MultiheadAttention(E, 4, batch_first=True)
        else:
            self.layer = (nn.LSTM if kind == "lstm" else nn.GRU)(E, 32, batch_first=True)

    def forward(self, x):  # (N, L, E)
        return self.layer(x, x, x)[0] if self.kind == "attention" else self.layer(x)[0]


def tv(name: str, **kw) -> Callable[[], nn.Module]:
    return lambda: torchvision.models.get_model(name, num_classes=1000, **kw)


CASES: list[tuple[str, Callable[[], nn.Module], tuple[int, ...]]] = [
    ("lenet5", lambda: create("lenet5"), (1, 28, 28)),
    ("alexnet", tv("alexnet"), (3, 224, 224)),
    ("googlenet", tv("googlenet", aux_logits=False, init_weights=False), (3, 224, 224)),
    ("resnet18", tv("resnet18"), (3, 224, 224)),
    ("resnet50", tv("resnet50"), (3, 224, 224)),
    ("resnet152", tv("resnet152"), (3, 224, 224)),
    ("mobilenet_v2", tv("mobilenet_v2"), (3, 224, 224)),
    ("functional (F.conv2d, @)", FunctionalNet, (1, 28, 28)),
    ("reused Linear(64, 64) ×3", Reused, (E,)),
    ("depthwise conv 32@3×3 /32", lambda: nn.Conv2d(32, 32, 3, padding=1, groups=32), (32, 16, 16)),
    ("grouped conv 64@3×3 /4", lambda: nn.Conv2d(32, 64, 3, padding=1, groups=4), (32, 16, 16)),
    ("dilated conv 16@3×3 d2", lambda: nn.Conv2d(16, 16, 3, dilation=2), (16, 20, 20)),
    ("transposed conv 8@4×4 s2", lambda: nn.ConvTranspose2d(16, 8, 4, stride=2, padding=1), (16, 16, 16)),
    ("LSTM 64→32, 20 steps", lambda: Sequence("lstm"), (L, E)),
    ("GRU 64→32, 20 steps", lambda: Sequence("gru"), (L, E)),
    ("MultiheadAttention 64, 4 heads, 20 tokens", lambda: Sequence("attention"), (L, E)),
]

# (parameters, MACs) by hand, with the arithmetic; torchvision's published figures (its
# "GFLOPS" column is multiply-adds) for the big nets, to their printed precision
HAND = {
    "lenet5": (61_706, 117_600 + 240_000 + 48_000 + 10_080 + 840),  # the lecture's table
    "alexnet": (61_100_840, 0.71e9),
    "googlenet": (6_624_904, 1.50e9),
    "resnet18": (11_689_512, 1.81e9),
    "resnet50": (25_557_032, 4.09e9),
    "resnet152": (60_192_808, 11.51e9),
    "mobilenet_v2": (3_504_872, 0.30e9),
    "functional (F.conv2d, @)": (72 + 5408 * 10, 8 * 26 * 26 * 9 + 5408 * 10),
    "reused Linear(64, 64) ×3": (64 * 64 + 64, 3 * 64 * 64),
    "depthwise conv 32@3×3 /32": (32 * 9 + 32, 32 * 16 * 16 * 9),
    "grouped conv 64@3×3 /4": (64 * 8 * 9 + 64, 64 * 16 * 16 * 8 * 9),
    "dilated conv 16@3×3 d2": (16 * 16 * 9 + 16, 16 * 16 * 16 * 16 * 9),
    # every input unit times C_out × k² taps (the 32×32 output has 4× fewer taps per unit)
    "transposed conv 8@4×4 s2": (16 * 8 * 16 + 8, 16 * 16 * 16 * 8 * 16),
    "LSTM 64→32, 20 steps": (4 * 32 * (64 + 32) + 2 * 4 * 32, 20 * 4 * 32 * (64 + 32)),
    "GRU 64→32, 20 steps": (3 * 32 * (64 + 32) + 2 * 3 * 32, 20 * 3 * 32 * (64 + 32)),
    # in-projection 20·64·192, Q·Kᵀ and A·V 4·20·20·16 each, out-projection 20·64·64
    "MultiheadAttention 64, 4 heads, 20 tokens": (
        4 * 64 * 64 + 4 * 64,
        20 * 64 * 192 + 2 * 4 * 20 * 20 * 16 + 20 * 64 * 64,
    ),
}
PRECISION = {
    "alexnet": 0.01,
    "googlenet": 0.01,
    "resnet18": 0.01,
    "resnet50": 0.01,
    "resnet152": 0.01,
    "mobilenet_v2": 0.01,
}


def cnnlab_count(model, shape):
    t = analyze(model, shape).totals
    return t["weights"], t["macs"]


def torchinfo_count(model, shape):
    from torchinfo import summary

    s = summary(model, input_size=(1, *shape), verbose=0)
    return s.total_params, s.total_mult_adds


def fvcore_count(model, shape):
    from fvcore.nn import FlopCountAnalysis, parameter_count

    flops = FlopCountAnalysis(model, torch.zeros(1, *shape))
    flops.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    return parameter_count(model)[""], flops.total()  # fvcore's "flop" is one multiply-add


def ptflops_count(model, shape):
    from ptflops import get_model_complexity_info

    macs, params = get_model_complexity_info(
        model, tuple(shape), as_strings=False, print_per_layer_stat=False, verbose=False
    )
    return params, macs


def thop_count(model, shape):
    from thop import profile

    macs, params = profile(model, inputs=(torch.zeros(1, *shape),), verbose=False)
    return int(params), int(macs)


TOOLS = {
    "cnnlab": cnnlab_count,
    "torchinfo": torchinfo_count,
    "fvcore": fvcore_count,
    "ptflops": ptflops_count,
    "thop": thop_count,
}


def right(value, truth, rel: float) -> bool | None:
    if value is None:
        return None
    return abs(value - truth) <= max(rel * truth, 0.5)


def main() -> None:
    torch.manual_seed(0)
    rows = []
    for name, build, shape in CASES:
        base = build().eval()
        row = {"model": name, "input": list(shape), "hand_params": HAND[name][0], "hand_macs": HAND[name][1]}
        for tool, count in TOOLS.items():
            try:
                with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), torch.no_grad():
                    warnings.simplefilter("ignore")
                    params, macs = count(copy.deepcopy(base), shape)
                params, macs = int(params), int(macs)
            except Exception as e:  # noqa: BLE001 - a peer failing on a model is a result
                params = macs = None
                row[f"{tool}_error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''}"
            row[f"{tool}_params"], row[f"{tool}_macs"] = params, macs
            row[f"{tool}_params_right"] = right(params, HAND[name][0], 0.0)
            row[f"{tool}_macs_right"] = right(macs, HAND[name][1], PRECISION.get(name, 0.0))
        rows.append(row)
        print(name, {t: (row[f"{t}_params"], row[f"{t}_macs"]) for t in TOOLS}, flush=True)
    wrong = {
        t: [r["model"] for r in rows if r[f"{t}_macs_right"] is False or r[f"{t}_params_right"] is False] for t in TOOLS
    }
    common.write_json("size_peers", {"rows": rows, "wrong": wrong})
    write_docs(rows)


def _cell(row, tool) -> str:
    p, m = row[f"{tool}_params"], row[f"{tool}_macs"]
    if p is None:
        return "—"
    mark = lambda ok: "" if ok else " ✗"  # noqa: E731
    return f"{_num(p)}{mark(row[f'{tool}_params_right'])} / {_num(m)}{mark(row[f'{tool}_macs_right'])}"


def _num(n: float) -> str:
    return f"{n / 1e9:.2f} G" if n >= 1e8 else f"{n / 1e6:.2f} M" if n >= 1e6 else f"{int(n):,}"


def write_docs(rows) -> None:
    lines = [
        "| model | by hand | " + " | ".join(TOOLS) + " |",
        "|---|---:|" + "---:|" * len(TOOLS),
    ]
    for r in rows:
        hand = f"{_num(r['hand_params'])} / {_num(r['hand_macs'])}"
        lines.append(f"| {r['model']} | {hand} | " + " | ".join(_cell(r, t) for t in TOOLS) + " |")
    table = "\n".join(lines)
    doc = Path(__file__).resolve().parents[1] / "docs" / "size.md"
    text = doc.read_text()
    begin, end = "<!-- size_peers:begin -->", "<!-- size_peers:end -->"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + begin + "\n" + table + "\n" + end + rest.split(end, 1)[1]
        tmp = doc.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(doc)
        print(f"updated the table in {doc}")
    print(table)
    Path(common.RESULTS / "size_peers.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
