"""Every registered model: builds, runs forward and backward, and trains when it fits the data."""

from __future__ import annotations

import math

import pytest
import torch

from cnnlab.errors import CnnlabError
from cnnlab.models import create, get_spec, list_models
from cnnlab.models.lenet1998 import C3_TABLE
from cnnlab.runs import Run
from cnnlab.train.run import config_for, run_training
from tests.conftest import assert_one_line_error, run_cli

PUBLISHED_PARAMS = {
    "alexnet": 61_100_840,
    "googlenet": 6_624_904,
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
    "lenet5": 61_706,
    "lenet5-1998": 60_000,
}


@pytest.mark.parametrize("name", list_models())
def test_forward_backward_smoke(name):
    spec = get_spec(name)
    c, h, w = spec.input_shape or (1, 28, 28)
    if spec.input_shape is not None and spec.flexible:  # the ImageNet nets take any H, W >= min_size:
        h = w = max(spec.min_size, 64)  # 64×64 runs every layer at 1/12 of 224×224's cost
    torch.manual_seed(0)
    model = create(name)
    model.train()
    out = model(torch.randn(2, c, h, w))
    assert out.shape == (2, spec.num_classes)
    assert torch.isfinite(out).all()
    out.square().mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    if name in PUBLISHED_PARAMS:
        assert sum(p.numel() for p in model.parameters()) == PUBLISHED_PARAMS[name]


@pytest.mark.parametrize("name", ["alexnet-small", "resnet18-small", "mnist-best", "fashion-best"])
def test_small_variants_take_32x32_colour(name):
    assert create(name, in_channels=3, input_size=32, num_classes=100)(torch.randn(2, 3, 32, 32)).shape == (2, 100)


CNNLAB_MODELS = [n for n in list_models() if get_spec(n).input_shape is None]  # the torchvision ones name their own


@pytest.mark.parametrize("name", CNNLAB_MODELS)
def test_every_layer_has_a_name_that_says_what_it_is(name):
    """`cnnlab viz --layer` takes these names: a top-level layer is called C1 or conv1, not
    nn.Sequential's 0, 1, 2, and every name the model lists is one that finds its layer."""
    model = create(name)
    children = [n for n, _ in model.named_children()]
    assert children and not [n for n in children if n.isdigit()], children
    for module_name, module in model.named_modules():
        if module_name:
            assert model.get_submodule(module_name) is module


def test_lenet1998_connection_table_is_table_one():
    # LeCun et al. 1998, Table I: rows are S2 maps, columns C3 maps (X = connected)
    table = [
        "X...XXX..XXXX.XX",
        "XX...XXX..XXXX.X",
        "XXX...XXX..X.XXX",
        ".XXX..XXXX..X.XX",
        "..XXX..XXXX.XX.X",
        "...XXX..XXXX.XXX",
    ]
    assert [tuple(i for i in range(6) if table[i][j] == "X") for j in range(16)] == [tuple(sorted(t)) for t in C3_TABLE]
    model = create("lenet5-1998")
    assert not any(name.startswith("output") for name, _ in model.named_parameters())  # RBF centres are fixed
    dense = model.C3.dense_weight()
    assert (dense.abs().sum((2, 3)) > 0).sum().item() == 60  # 60 of the 96 map pairs are connected


MNIST_MODELS = CNNLAB_MODELS


@pytest.mark.parametrize("name", MNIST_MODELS)
def test_train_runs_for_every_model_that_fits_mnist(name, tmp_path):
    """Trains, and the reported accuracy is what the saved model really gets on those test
    images (recomputed here from its weights and the run's recorded pipeline)."""
    cfg = config_for(name, epochs=1, train_subset=32, test_subset=32, batch_size=16, device="cpu")
    summary = run_training(cfg, out=tmp_path / name, quiet=True, echo=lambda s: None)
    assert summary["status"] == "finished"
    run = Run.open(tmp_path / name)
    test = run.data()[1]
    with torch.no_grad():
        predicted = run.model()(run.preprocess(test.images[:32])).argmax(1)
    assert summary["test_accuracy"] == pytest.approx((predicted == test.labels[:32]).float().mean().item(), abs=1e-9)
    assert len(run.metrics) == 1 and all(math.isfinite(v) for v in run.metrics[0]["train_loss_trace"])


def test_imagenet_models_refuse_inputs_too_small_with_a_hint():
    with pytest.raises(
        CnnlabError,
        match=r"alexnet needs inputs of at least 63×63 and mnist gives 28×28; use resnet18-small or --resize 63",
    ):
        run_training(config_for("alexnet", epochs=1, device="cpu"), quiet=True, echo=lambda s: None)
    assert_one_line_error(run_cli("train", "--model", "alexnet", "--quiet"), "alexnet needs inputs of at least 63×63")


@pytest.mark.parametrize("name", ["alexnet", "googlenet", "resnet50"])
def test_imagenet_models_take_the_sizes_and_channels_they_run_at(name):
    from cnnlab.models.imagenet import MIN_SIZE

    for c, size in [(1, (MIN_SIZE[name], MIN_SIZE[name] + 7)), (3, (256, 256))]:
        model = create(name, in_channels=c, input_size=size).to("meta").eval()
        assert model(torch.zeros(2, c, *size, device="meta")).shape == (2, 1000)
    if MIN_SIZE[name] > 1:  # the table's minimum is tight: one pixel less does not run
        with pytest.raises(CnnlabError, match=f"at least {MIN_SIZE[name]}"):
            create(name, input_size=MIN_SIZE[name] - 1)
        model = create(name, input_size=MIN_SIZE[name]).to("meta").eval()
        with pytest.raises(RuntimeError):
            model(torch.zeros(1, 3, MIN_SIZE[name] - 1, MIN_SIZE[name] - 1, device="meta"))


def test_pretrained_weights_need_1000_classes():
    with pytest.raises(CnnlabError, match="pretrained resnet18 weights have 1000 ImageNet classes, not 10"):
        create("resnet18", num_classes=10, weights="DEFAULT")


def test_fashion_best_head_knows_where_features_are():
    """mnist-best averages the last 7×7 map away; fashion-best's linear layer sees each position."""
    torch.manual_seed(0)
    feats = torch.randn(3, 128, 7, 7)
    moved = feats.roll(3, dims=3)  # the same features, elsewhere
    for name, invariant in (("mnist-best", True), ("fashion-best", False)):
        model = create(name).eval()
        here, there = (model.output(model.pool(f).flatten(1)) for f in (feats, moved))
        assert torch.allclose(here, there, atol=1e-5) == invariant, name
    assert create("fashion-best").output.in_features == 128 * 7 * 7
    assert create("fashion-best", input_size=32).output.in_features == 128 * 8 * 8
