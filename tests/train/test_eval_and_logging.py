"""Top-5, per-class accuracy, confusion matrix; --model evaluation; TensorBoard; bf16 on CPU."""

from __future__ import annotations

import json

import pytest
import torch

from cnnlab.runs import Run
from cnnlab.train.evaluation import evaluate_run
from cnnlab.train.run import config_for, run_training
from tests.conftest import assert_one_line_error, run_cli


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "run"
    cfg = config_for(
        "lenet5", epochs=1, train_subset=3000, test_subset=1000, device="cpu", tensorboard=True, amp="bf16"
    )
    summary = run_training(cfg, out=out, quiet=True, echo=lambda s: None)
    return out, summary


def test_eval_reports_top5_per_class_and_confusion(small_run):
    out, summary = small_run
    proc = run_cli("eval", str(out), "--json", "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    assert r["test_accuracy"] == summary["test_accuracy"] and r["total"] == 1000
    # top-1, top-5, per-class accuracy and the confusion matrix, recomputed by hand from the logits
    run = Run.open(out)
    test = run.data()[1]
    x = run.preprocess(test.images[:1000]).contiguous(memory_format=torch.channels_last)  # as eval batches it
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):  # the run trained and evaluates in bf16
        logits = run.model()(x).float()  # (1000, 10)
    y = test.labels[:1000]
    top5 = torch.topk(logits, 5, dim=1).indices  # (1000, 5)
    hits = sum(int(y[i]) in top5[i].tolist() for i in range(1000))
    assert r["topk"] == 5 and r["test_top5_accuracy"] == pytest.approx(hits / 1000, abs=1e-12)
    assert r["test_accuracy"] == pytest.approx((logits.argmax(1) == y).double().mean().item(), abs=1e-12)
    assert r["test_top5_accuracy"] > r["test_accuracy"]  # on a one-epoch bf16 LeNet some digits are only in the top 5
    assert r["test_top5_error"] == pytest.approx(1 - hits / 1000, abs=1e-12)
    for d in range(10):
        assert r["per_class_accuracy"][str(d)] == pytest.approx(
            (logits.argmax(1)[y == d] == d).double().mean().item(), abs=1e-12
        )
    expected = [[int(((y == t) & (logits.argmax(1) == p)).sum()) for p in range(10)] for t in range(10)]
    assert expected == evaluate_run(out, device="cpu")["confusion"]
    assert (out / "confusion.png").read_bytes()[:4] == b"\x89PNG"


def test_bf16_autocast_on_cpu_trains(small_run):
    _, summary = small_run
    assert summary["status"] == "finished" and summary["test_accuracy"] > 0.5


def test_tensorboard_logs(small_run):
    out, _ = small_run
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = sorted((out / "tensorboard").rglob("events.out.tfevents.*"))
    tags = {"scalars": set(), "images": set()}
    values = {}
    for e in events:
        acc = EventAccumulator(str(e), size_guidance={"images": 0, "scalars": 0})
        acc.Reload()
        for kind in tags:
            tags[kind] |= set(acc.Tags()[kind])
        for tag in acc.Tags()["scalars"]:
            values[tag] = [s.value for s in acc.Scalars(tag)]
    summary = json.loads((out / "summary.json").read_text())
    want = {"train_loss", "test_loss", "test_accuracy", "test_top5_accuracy", "lr", "images_per_second"}
    assert want <= tags["scalars"] and "first_layer_filters" in tags["images"], tags
    assert values["test_accuracy"][-1] == pytest.approx(summary["test_accuracy"], abs=1e-6)
    assert values["hparam/test_accuracy"] == [pytest.approx(summary["test_accuracy"], abs=1e-6)]


def test_eval_a_registered_model_on_a_dataset(tmp_path):
    proc = run_cli(
        "eval",
        "--model",
        "lenet5",
        "--dataset",
        "mnist",
        "--test-subset",
        "200",
        "--json",
        "--device",
        "cpu",
        "--confusion",
        str(tmp_path / "c.png"),
    )
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    assert r["total"] == 200 and r["weights"] is None and (tmp_path / "c.png").exists()
    assert_one_line_error(run_cli("eval", "--model", "lenet5"), "--model needs --dataset")
    assert_one_line_error(run_cli("eval"), "give a RUN_DIR")


class _TiedLogits(torch.nn.Module):
    """Logits where classes 0 and 2 tie for the highest value for every image (argmax: 0, the
    lower index)."""

    def __init__(self) -> None:
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x):
        row = torch.tensor([2.0, 0.0, 2.0, 0.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0])
        return row.expand(x.shape[0], 10) + self.dummy  # (B, 10)


def _topk_last_of_ties_first(self, k, dim=-1, largest=True, sorted=True):
    """torch.topk, but tied values listed highest index first: the order topk may pick on some CPUs."""
    assert largest
    values, order = torch.sort(self.flip(dim), dim=dim, descending=True, stable=True)
    return torch.return_types.topk((values.narrow(dim, 0, k), self.shape[dim] - 1 - order.narrow(dim, 0, k)))


def test_evaluate_breaks_ties_as_argmax_does(monkeypatch):
    """Top-1 is the first of the highest logits (as argmax, the page and the mistakes list pick it),
    not whichever tied class topk happens to put first; a top-1 hit is always a top-k hit. topk is
    made to list ties last-index-first, so the test fails on any CPU if top-1 came from topk."""
    from cnnlab.data.memory import ImageTensors
    from cnnlab.train.loop import evaluate

    monkeypatch.setattr(torch.Tensor, "topk", _topk_last_of_ties_first)

    labels = torch.tensor([0] * 5 + [2] * 7 + [4] * 4 + [9] * 4)  # 20 images
    data = ImageTensors(torch.zeros(20, 1, 4, 4, dtype=torch.uint8), labels, (0.5,), (0.5,), tuple(map(str, range(10))))
    cfg = config_for("lenet5", device="cpu", eval_batch_size=8)
    model = _TiedLogits()
    assert (model(torch.zeros(20, 1, 4, 4)).argmax(1) == 0).all()
    r = evaluate(model, data, cfg, topk=2, confusion=True)
    assert r["accuracy"] == pytest.approx(5 / 20)
    assert r["top2_accuracy"] == pytest.approx(12 / 20)  # classes 0 and 2
    assert r["confusion"][:, 0].sum() == 20 and r["confusion"][:, 2].sum() == 0
