"""The size report: per-layer rows, totals and the lecture's rules of thumb, in four formats."""

from __future__ import annotations

import csv
import html
import io
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cnnlab.display import Picture

COLUMNS = [  # (key, header, kind)
    ("name", "layer", "str"),
    ("type", "type", "str"),
    ("output_shape", "output", "shape"),
    ("units", "units", "int"),
    ("weights", "weights", "int"),
    ("connections", "connections", "int"),
    ("macs", "MACs", "int"),
    ("param_bytes", "param bytes", "bytes"),
    ("train_activation_bytes", "train act. bytes", "bytes"),
    ("inference_bytes", "live at inference", "bytes"),
]
CONV_TYPES = ("conv", "conv (partial)")
FC_TYPES = ("fully connected",)


@dataclass(repr=False)
class SizeReport:
    """Per-layer rows (``layers``), ``totals`` and the lecture's ``rules_of_thumb`` of one model.

    In a notebook it shows itself as a table (``_repr_html_``); ``print(report)`` gives the
    same table as text (``to_table``), ``report.plot()`` the bar chart of ``cnnlab size --plot``.

    >>> from cnnlab.models import create
    >>> from cnnlab.size import analyze
    >>> report = analyze(create("lenet5"), (1, 28, 28), count_bias=False)
    >>> report
    <SizeReport LeNet5, input 1×28×28: 7 layers, 61,470 weights, 8,094 units, 422,824 connections, 0.42 M MACs>
    >>> print(report)                                        # doctest: +ELLIPSIS
    LeNet5, input 1×28×28, memory at batch 1, biases not counted
    ...
    >>> "<table" in report._repr_html_()
    True
    """

    model: str
    input_shape: tuple[int, ...]  # (C, H, W), per example
    batch: int  # batch size of the memory figures
    count_bias: bool
    layers: list[dict[str, Any]]
    totals: dict[str, Any] = field(default_factory=dict)
    rules_of_thumb: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "input_shape": list(self.input_shape),
            "batch": self.batch,
            "count_bias": self.count_bias,
            "layers": self.layers,
            "totals": self.totals,
            "rules_of_thumb": self.rules_of_thumb,
            "notes": self.notes,
        }

    def row(self, name: str) -> dict[str, Any]:
        for r in self.layers:
            if r["name"] == name:
                return r
        raise KeyError(f"no layer {name!r}; layers: {', '.join(r['name'] for r in self.layers)}")

    # -- formats ----------------------------------------------------------------------
    def __str__(self) -> str:
        return self.to_table()

    def __repr__(self) -> str:
        t = self.totals
        return (
            f"<SizeReport {self.model}, input {'×'.join(map(str, self.input_shape))}: {len(self.layers)} layers, "
            f"{t['weights']:,} weights, {t['units']:,} units, {t['connections']:,} connections, "
            f"{t['macs'] / 1e6:,.2f} M MACs>"
        )

    def _repr_html_(self) -> str:
        return self.to_html()

    def to_html(self) -> str:
        """The table as HTML: the lecture's columns, a bold totals row, the rules of thumb below.

        Styled inline (a notebook viewer may drop ``<style>`` blocks): numbers right-aligned
        with thousands separators in tabular figures; ``<thead>``/``<tfoot>``/``<strong>`` keep
        it readable where inline styles are dropped too.
        """
        headers, rows = self._cells(human=True)
        numeric = [kind not in ("str", "shape") for _, _, kind in COLUMNS]
        pad = "padding:2px 10px;"

        def cell(tag: str, text: str, right: bool, extra: str = "", bold: bool = False) -> str:
            align = ' align="right"' if right else ""
            style = f"{pad}text-align:{'right' if right else 'left'};{extra}{'font-weight:bold;' if bold else ''}"
            inner = f"<strong>{html.escape(text)}</strong>" if bold and text else html.escape(text)
            return f'<{tag}{align} style="{style}">{inner}</{tag}>'

        line = "border-bottom:1px solid #888;"
        head = "".join(cell("th", h, n, line) for h, n in zip(headers, numeric))
        body = "\n".join("<tr>" + "".join(cell("td", c, n) for c, n in zip(r, numeric)) + "</tr>" for r in rows[:-1])
        top = "border-top:1px solid #888;"
        total = "".join(cell("td", c, n, top, bold=True) for c, n in zip(rows[-1], numeric))
        caption = (
            f"{self.model}, input {'×'.join(map(str, self.input_shape))}, memory at batch {self.batch}"
            f"{'' if self.count_bias else ', biases not counted'}"
        )
        summary = "".join(f"<li>{html.escape(line)}</li>" for line in self._summary().splitlines())
        # a deep net's table (ResNet-152: 150+ rows) scrolls inside the cell instead of filling the page
        scroll = ' style="max-height:640px;overflow:auto"' if len(rows) > 40 else ""
        return (
            f'<div class="cnnlab-size"{scroll}>'
            f'<table style="border-collapse:collapse;font-variant-numeric:tabular-nums;font-size:13px">'
            f'<caption style="text-align:left;font-weight:bold;padding:4px 0">{html.escape(caption)}</caption>'
            f"<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n<tfoot><tr>{total}</tr></tfoot></table>"
            f'<ul style="font-size:13px;margin:6px 0 0 0">{summary}</ul></div>'
        )

    def plot(self) -> Picture:
        """Units, connections and weights per layer as bars on a log scale (``cnnlab size
        --plot``'s figure; needs matplotlib, the ``plot`` extra)."""
        from cnnlab.size.plot import report_figure

        return report_figure(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def to_csv(self) -> str:
        buf = io.StringIO()
        keys = [k for k, _, _ in COLUMNS] + ["flops"]
        writer = csv.DictWriter(buf, fieldnames=keys, extrasaction="ignore")
        writer.writeheader()
        for r in self.layers:
            writer.writerow({**r, "output_shape": "x".join(map(str, r["output_shape"]))})
        writer.writerow({"name": "TOTAL", **{k: v for k, v in self.totals.items() if k in keys}})
        return buf.getvalue()

    def _cells(self, human: bool) -> tuple[list[str], list[list[str]]]:
        headers = [h for _, h, _ in COLUMNS]
        body = [[_fmt(r.get(k), kind, human) for k, _, kind in COLUMNS] for r in self.layers]
        total = [
            _fmt(self.totals.get(k), kind, human) if k not in ("name", "type", "output_shape") else ""
            for k, _, kind in COLUMNS
        ]
        total[0] = "total"
        return headers, body + [total]

    def to_markdown(self) -> str:
        headers, rows = self._cells(human=True)
        align = ["---" if kind in ("str", "shape") else "---:" for _, _, kind in COLUMNS]
        lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(align) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines) + "\n\n" + self._summary() + "\n"

    def to_table(self) -> str:
        headers, rows = self._cells(human=True)
        widths = [max(len(x) for x in col) for col in zip(headers, *rows)]
        numeric = [kind not in ("str", "shape") for _, _, kind in COLUMNS]
        fmt = lambda cells: "  ".join(c.rjust(w) if n else c.ljust(w) for c, w, n in zip(cells, widths, numeric))  # noqa: E731
        out = [
            f"{self.model}, input {'×'.join(map(str, self.input_shape))}, memory at batch {self.batch}"
            f"{'' if self.count_bias else ', biases not counted'}",
            "",
            fmt(headers),
            "  ".join("-" * w for w in widths),
        ]
        out += [fmt(r) for r in rows[:-1]] + ["  ".join("-" * w for w in widths), fmt(rows[-1]), "", self._summary()]
        return "\n".join(out) + "\n"

    def _summary(self) -> str:
        t, r = self.totals, self.rules_of_thumb
        lines = [
            f"weights {t['weights']:,} ({_bytes(t['param_bytes'])}), units {t['units']:,}, connections {t['connections']:,}, "
            f"{t['macs'] / 1e6:,.2f} M MACs = {t['flops'] / 1e6:,.2f} M FLOPs per example "
            f"(training ≈ 3 multiply-adds per connection: {3 * t['connections'] / 1e6:,.2f} M)",
            f"memory at batch {self.batch}: activations kept for backprop {_bytes(t['train_activation_bytes'])}; "
            f"a training step ≈ {_bytes(t['train_step_bytes'])} (with the weight gradients); "
            f"inference peak {_bytes(t['inference_peak_bytes'])} (all plus the weights themselves)",
            f"rules of thumb (lecture): conv layers hold {100 * r['conv_share_of_units']:.0f}% of the units and "
            f"{100 * r['conv_share_of_connections']:.0f}% of the connections; fully connected layers hold "
            f"{100 * r['fc_share_of_weights']:.0f}% of the weights",
        ]
        return "\n".join(lines + self.notes)


def _bytes(n: int | None) -> str:
    if n is None:
        return ""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def _fmt(v: Any, kind: str, human: bool) -> str:
    if v is None:
        return ""
    if kind == "shape":
        return "×".join(map(str, v))
    if kind == "bytes":
        return _bytes(v) if human else str(v)
    if kind == "int":
        return f"{v:,}"
    return str(v)
