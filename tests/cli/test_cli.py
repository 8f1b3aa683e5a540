"""The command line: the --json contract, eval, and one clear line for every user error."""

from __future__ import annotations

import json

from tests.conftest import assert_one_line_error, run_cli


def test_train_json_contract_and_eval_to_the_last_digit(tmp_path):
    out = tmp_path / "run"
    proc = run_cli(
        "train",
        "--model",
        "lenet5",
        "--dataset",
        "mnist",
        "--epochs",
        "1",
        "--train-subset",
        "2000",
        "--device",
        "cpu",
        "--out",
        str(out),
        "--json",
        "--quiet",
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0].startswith("training lenet5 (61,706 params) on mnist")
    assert any(line.startswith("epoch 1/1  train loss") and "test acc" in line for line in lines)
    result = json.loads(lines[-1])
    for key in ("model", "dataset", "epochs", "test_accuracy", "train_seconds", "params", "run_dir"):
        assert key in result, key
    assert result["model"] == "lenet5" and result["dataset"] == "mnist" and result["epochs"] == 1
    assert 0.5 < result["test_accuracy"] <= 1 and result["params"] == 61706 and result["run_dir"] == str(out)
    assert result["train_seconds"] > 0

    ev = run_cli("eval", str(out), "--json", "--device", "cpu")
    assert ev.returncode == 0, ev.stderr
    assert json.loads(ev.stdout.strip().splitlines()[-1])["test_accuracy"] == result["test_accuracy"]


def test_unknown_model_is_one_line():
    proc = run_cli("train", "--model", "lenet6", "--quiet")
    assert_one_line_error(proc, "unknown model 'lenet6'", "cnnlab models")
    assert proc.returncode == 2


def test_missing_dataset_is_one_line(tmp_path, monkeypatch):
    # Fashion-MNIST with its Debian copy hidden, nothing in the data dir, and downloads off
    import dataclasses

    from cnnlab.data import idx_datasets as d

    monkeypatch.setitem(d.IDX_DATASETS, "fashion-mnist", dataclasses.replace(d.FASHION_MNIST, known_dirs=()))
    monkeypatch.setenv("CNNLAB_OFFLINE", "1")
    proc = run_cli("train", "--dataset", "fashion-mnist", "--data-dir", str(tmp_path), "--quiet")
    assert_one_line_error(proc, "Fashion-MNIST not found", str(tmp_path), "apt-get install dataset-fashion-mnist")


def test_eval_of_a_folder_that_is_not_a_run(tmp_path):
    assert_one_line_error(run_cli("eval", str(tmp_path)), "is not a cnnlab run folder")
    assert_one_line_error(run_cli("eval", str(tmp_path / "nope")), "does not exist")


def test_bad_flag_values_are_one_line():
    assert_one_line_error(run_cli("train", "--batch-size", "0"), "--batch-size must be at least 1")
    assert_one_line_error(run_cli("train", "--device", "cuda:7"), "--device cuda:7")


def test_divergence_exits_3(tmp_path):
    proc = run_cli(
        "train",
        "--optimizer",
        "sgd",
        "--lr",
        "1e8",
        "--train-subset",
        "1000",
        "--device",
        "cpu",
        "--out",
        str(tmp_path / "d"),
        "--quiet",
    )
    assert_one_line_error(proc, "training diverged", "lower the learning rate")
    assert proc.returncode == 3


def test_models_lists_lenet5():
    proc = run_cli("models", "--json")
    assert proc.returncode == 0
    assert "lenet5" in [row["name"] for row in json.loads(proc.stdout)]
