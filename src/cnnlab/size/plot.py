"""Per-layer units, connections and weights as bars on a log scale (the lecture's
"Conclusions?" slide: most units and connections in the conv layers, most weights in the
fully connected ones)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np

from cnnlab import atomic
from cnnlab.display import Picture
from cnnlab.extras import require


class SizeReport(Protocol):  # cnnlab.size.report.SizeReport, described, not imported: its plot() draws with this module
    model: str
    layers: list[dict[str, Any]]
    rules_of_thumb: dict[str, float]


MAX_BARS = 60  # wider models are shown by their largest layers, in order


def _figure(report: SizeReport):
    """The matplotlib figure (made without pyplot: a notebook's own backend is left alone)."""
    require("matplotlib", "plot", "the size plot")
    from matplotlib.figure import Figure

    layers = report.layers
    if len(layers) > MAX_BARS:
        keep = set(np.argsort([-r["connections"] for r in layers])[:MAX_BARS])
        layers = [r for i, r in enumerate(layers) if i in keep]
    names = [r["name"] for r in layers]
    metrics = [("units", "tab:blue"), ("connections", "tab:orange"), ("weights", "tab:green")]
    x = np.arange(len(layers))
    width = 0.27
    fig = Figure(figsize=(max(7, 0.45 * len(layers) + 3), 4.8), dpi=110)
    ax = fig.subplots()
    for i, (key, color) in enumerate(metrics):
        values = np.array([max(r[key], 0) for r in layers], dtype=float)
        ax.bar(x + (i - 1) * width, np.where(values > 0, values, np.nan), width, label=key, color=color)
    conv = [i for i, r in enumerate(layers) if r["type"].startswith("conv")]
    for i in conv:
        ax.axvspan(i - 0.45, i + 0.45, color="0.93", zorder=0)
    ax.set_yscale("log")
    ax.set_xticks(
        x, names, rotation=60 if len(layers) > 8 else 0, ha="right" if len(layers) > 8 else "center", fontsize=8
    )
    ax.set_ylabel("count (log scale)")
    r = report.rules_of_thumb
    ax.set_title(
        f"{report.model}\nconv layers (shaded) hold {100 * r['conv_share_of_units']:.0f}% of units, "
        f"{100 * r['conv_share_of_connections']:.0f}% of connections; FC layers {100 * r['fc_share_of_weights']:.0f}% of weights",
        fontsize=10,
    )
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def report_figure(report: SizeReport) -> Picture:
    """The plot as a :class:`~cnnlab.display.Picture` (shown inline, ``.save(path)``)."""
    return Picture.from_figure(_figure(report), f"{report.model}: units, connections and weights per layer")


def plot_report(report: SizeReport, path: str | Path) -> None:
    """Write the plot as a PNG, atomically (``cnnlab size --plot``)."""
    fig = _figure(report)
    atomic.write_with(path, lambda tmp: fig.savefig(tmp, format="png"))
