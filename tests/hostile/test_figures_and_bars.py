"""Issue 14, item 8: error figures rounded for people (full precision, from the counts, in
JSON), and progress bars only when stderr is a terminal."""

from __future__ import annotations

import json
import re
import sys

import torch

from tests.hostile.inprocess import cli

TRAIN = ("train", "--epochs", "1", "--train-subset", "100", "--test-subset", "50", "--device", "cpu")
BAR = re.compile(r"\d+%\|")  # tqdm's "100%|████|"


def test_error_figures_rounded_for_people_and_exact_in_json(capsys, tiny_run, monkeypatch):
    import cnnlab.train.evaluation as evaluation

    def counted(model, data, cfg, confusion=False):  # 24 of 100 right, 79 in the top 5
        matrix = torch.zeros(10, 10, dtype=torch.int64)
        matrix[0, 0], matrix[1, 0] = 24, 76
        top = {"loss": 2.2288514709472658, "accuracy": 0.24, "top5_accuracy": 0.79, "topk": 5}
        return {**top, "correct": 24, "total": 100, "confusion": matrix}

    monkeypatch.setattr(evaluation, "evaluate", counted)
    monkeypatch.setattr(evaluation, "plot_confusion", lambda *args: None)
    r = cli(capsys, "eval", tiny_run, "--device", "cpu", "--json")
    result = json.loads(r.out.splitlines()[-1])
    assert r.code == 0
    assert result["test_top5_error"] == 0.21 and result["test_error"] == 0.76  # not 1 - 0.79 = 0.20999999999999996
    assert result["test_loss"] == 2.2288514709472658  # every digit
    r = cli(capsys, "eval", tiny_run, "--device", "cpu")
    assert r.code == 0
    line = r.out.splitlines()[0]
    assert "top-1 accuracy 24.00% (error 76.00%), top-5 accuracy 79.00% (error 21.00%)" in line, line
    assert "test loss 2.229," in line, line  # four significant digits
    for number in re.findall(r"\d+\.\d+(?=%)", r.out):
        assert len(number.split(".")[1]) == 2, (number, r.out)


def test_train_progress_bar_only_on_a_terminal_and_1_epoch(capsys, tmp_path, monkeypatch):
    r = cli(capsys, *TRAIN, "--out", tmp_path / "log")
    assert r.code == 0 and r.err == "" and not BAR.search(r.out), r.err  # a pipe or a CI log: no bar
    epoch = next(line for line in r.out.splitlines() if line.startswith("epoch 1/1"))
    assert re.search(r"train loss \d\.\d{3}  test loss \d\.\d{3}  ", epoch), epoch  # 4 significant digits
    assert "after 1 epoch," in r.out and "1 epochs" not in r.out
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)  # stderr is a terminal now
    r = cli(capsys, *TRAIN, "--out", tmp_path / "tty")
    assert r.code == 0 and BAR.search(r.err), r.err
