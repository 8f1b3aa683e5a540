from __future__ import annotations

import pytest

from cnnlab.train.run import config_for, run_training


@pytest.fixture(scope="session")
def trained_lenet(tmp_path_factory):
    """A LeNet-5 trained for one epoch on 10,000 MNIST images (~97%): a run folder."""
    out = tmp_path_factory.mktemp("viz") / "lenet"
    run_training(
        config_for("lenet5", epochs=1, train_subset=10000, test_subset=2000, device="cpu"),
        out=out,
        quiet=True,
        echo=lambda s: None,
    )
    return out
