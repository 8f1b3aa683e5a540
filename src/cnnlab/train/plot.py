"""Loss and accuracy curves of a run, as a PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cnnlab import atomic
from cnnlab.display import Picture
from cnnlab.extras import require


def plot_curves(
    metrics: list[dict[str, Any]],
    path: Path,
    title: str = "",
    label_smoothing: float = 0.0,
    reference: tuple[float, str] | None = None,
) -> None:
    """Write the curves (:func:`curves_figure`) as a PNG, atomically."""
    fig = _figure(metrics, title, label_smoothing, reference)
    atomic.write_with(path, lambda tmp: fig.savefig(tmp, format="png"))


def curves_figure(
    metrics: list[dict[str, Any]],
    title: str = "",
    label_smoothing: float = 0.0,
    reference: tuple[float, str] | None = None,
) -> Picture:
    """Two panels: training loss (per sync window) with train/test loss per epoch; test accuracy,
    as a picture that shows itself in a notebook (``.save(path)`` writes the PNG).

    ``reference`` = (accuracy in [0, 1], label) draws a dashed line, e.g. the lecture's 98.9%.

    >>> rows = [{"epoch": e, "train_loss": 1 / e, "test_loss": 1.2 / e, "test_accuracy": 0.9 + e / 100} for e in (1, 2, 3)]
    >>> curves_figure(rows, "a made-up run", reference=(0.989, "lecture: 98.9%"))   # doctest: +ELLIPSIS
    <Picture 1100×440: a made-up run>
    """
    return Picture.from_figure(_figure(metrics, title, label_smoothing, reference), title)


def _figure(metrics, title: str, label_smoothing: float, reference):
    require("matplotlib", "plot", "curves.png")
    from matplotlib.figure import Figure  # no pyplot: a notebook's own backend is left alone

    fig = Figure(figsize=(10, 4), dpi=110)
    ax_loss, ax_acc = fig.subplots(1, 2)
    # the within-epoch loss trace, spread evenly over each epoch
    xs, ys = [], []
    for row in metrics:
        trace = row.get("train_loss_trace") or []
        for i, v in enumerate(trace):
            xs.append(row["epoch"] - 1 + (i + 1) / len(trace))
            ys.append(v)
    epochs = [row["epoch"] for row in metrics]
    smoothed = f", label smoothing {label_smoothing:g}" if label_smoothing else ""
    if xs:
        ax_loss.plot(xs, ys, color="tab:blue", alpha=0.35, lw=1, label=f"train loss (running{smoothed})")
    ax_loss.plot(
        epochs, [r["train_loss"] for r in metrics], "o-", color="tab:blue", label=f"train loss (epoch mean{smoothed})"
    )
    ax_loss.plot(epochs, [r["test_loss"] for r in metrics], "s-", color="tab:orange", label="test loss")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("cross-entropy")
    ax_loss.set_yscale("log")
    # plain numbers on the log axis (matplotlib's default writes a loss that spans less than a
    # decade as "2.3×10⁰"); minor ticks labelled, a chosen few, while it spans under 2 decades
    from matplotlib.ticker import LogFormatter

    class Plain(LogFormatter):  # LogFormatter's choice of which ticks to label, written 0.6, not 6e-01
        def __call__(self, x, pos=None):
            return f"{x:.3g}" if super().__call__(x, pos) else ""

    ax_loss.yaxis.set_major_formatter(Plain())
    ax_loss.yaxis.set_minor_formatter(Plain(labelOnlyBase=False, minor_thresholds=(2, 0.5)))
    ax_loss.legend()
    ax_loss.grid(alpha=0.3)
    ax_acc.plot(epochs, [100 * r["test_accuracy"] for r in metrics], "s-", color="tab:green", label="test accuracy")
    for r, e in zip(metrics, epochs):
        ax_acc.annotate(
            f"{100 * r['test_accuracy']:.2f}",
            (e, 100 * r["test_accuracy"]),
            textcoords="offset points",
            xytext=(0, 6),
            ha="center",
            fontsize=8,
        )
    if reference is not None:
        ax_acc.axhline(100 * reference[0], color="gray", ls="--", lw=1, label=reference[1])
    ax_acc.margins(x=0.08, y=0.15)
    for ax in (ax_loss, ax_acc):
        ax.xaxis.get_major_locator().set_params(integer=True)
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("test accuracy (%)")
    ax_acc.grid(alpha=0.3)
    ax_acc.legend(loc="lower right")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
