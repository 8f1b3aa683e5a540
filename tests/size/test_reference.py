"""The tracer's speed-ups (issue 19) change no number: every report field of these models is
compared with ``reference_reports.json``, written by the tracer as it was before it was made
faster (commit "size: reference reports from the tracer before optimizing").

Regenerate it only when a counting rule changes on purpose, and say why in the commit:

    PYTHONPATH=src python tests/size/test_reference.py --write
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

from cnnlab.models import create
from cnnlab.size import analyze

REFERENCE = Path(__file__).with_name("reference_reports.json")
L, E = 20, 64  # sequence length and width of the sequence models


class Attention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(E, 4, batch_first=True)

    def forward(self, x):  # (N, L, E)
        return self.attn(x, x, x)[0]  # (N, L, E)


class Recurrent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.LSTM(E, 32, batch_first=True)

    def forward(self, x):  # (N, L, E)
        return self.rnn(x)[0]  # (N, L, 32)


# name -> (builder, input shape); built on the meta device: analyze needs no weights' values
MODELS: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...]]] = {
    **{
        n: (lambda n=n: create(n), (3, 224, 224)) for n in ("resnet18", "resnet50", "resnet152", "googlenet", "alexnet")
    },
    "lenet5": (lambda: create("lenet5"), (1, 28, 28)),
    "lenet5-1998": (lambda: create("lenet5-1998"), (1, 28, 28)),
    "attention": (Attention, (L, E)),
    "lstm": (Recurrent, (L, E)),
}
# (model, batch, count_bias): the report's defaults on every model, and a larger batch without
# biases (memory figures scale differently from batch 2 on) on the smaller ones
CASES = [(m, 1, True) for m in MODELS] + [
    (m, 4, False) for m in ("resnet18", "alexnet", "lenet5", "lenet5-1998", "attention", "lstm")
]


def report(model: str, batch: int, count_bias: bool) -> dict:
    build, shape = MODELS[model]
    torch.manual_seed(0)
    with torch.device("meta"):
        net = build()
    return analyze(net, shape, batch=batch, count_bias=count_bias).to_dict()


def key(model: str, batch: int, count_bias: bool) -> str:
    return f"{model} batch={batch} bias={count_bias}"


@pytest.mark.parametrize("model,batch,count_bias", CASES, ids=[key(*c) for c in CASES])
def test_report_is_the_reference(model, batch, count_bias):
    expected = json.loads(REFERENCE.read_text())[key(model, batch, count_bias)]
    got = json.loads(json.dumps(report(model, batch, count_bias)))  # tuples as lists, as stored
    assert got["totals"] == expected["totals"]
    for g, e in zip(got["layers"], expected["layers"], strict=True):
        assert g == e, f"layer {e['name']} differs"
    assert got == expected


def write() -> None:
    data = {key(*c): report(*c) for c in CASES}
    tmp = REFERENCE.with_suffix(".tmp")
    # one layer a line: a changed figure shows as a one-line diff
    lines = ["{"]
    for i, (k, r) in enumerate(data.items()):
        head = {x: v for x, v in r.items() if x != "layers"}
        layers = ",\n".join("   " + json.dumps(layer) for layer in r["layers"])
        lines.append(
            f' {json.dumps(k)}: {json.dumps(head)[:-1]}, "layers": [\n{layers}\n ]}}{"," if i < len(data) - 1 else ""}'
        )
    lines.append("}")
    tmp.write_text("\n".join(lines) + "\n")
    json.loads(tmp.read_text())  # valid before it replaces anything
    tmp.replace(REFERENCE)
    print(f"wrote {REFERENCE} ({len(data)} reports)")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: PYTHONPATH=src python tests/size/test_reference.py --write")
    write()
