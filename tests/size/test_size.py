"""Size analysis: the lecture's LeNet table exactly, published totals, and the cases other
tools get wrong (torchinfo#126, fvcore#143/#148, thop#163/#221, ptflops#40)."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnlab.models import create
from cnnlab.nn import LocallyConnected2d
from cnnlab.size import analyze
from tests.conftest import assert_one_line_error, run_cli

LECTURE_TABLE = [  # layer, type, units, connections, weights (lecture 9, "Sizes of layers in LeNet")
    ("C1", "conv", 4704, 117_600, 150),
    ("S2", "pooling", 1176, 4704, 0),
    ("C3", "conv", 1600, 240_000, 2400),
    ("S4", "pooling", 400, 1600, 0),
    ("F5", "fully connected", 120, 48_000, 48_000),
    ("F6", "fully connected", 84, 10_080, 10_080),
    ("output", "fully connected", 10, 840, 840),
]


def test_lenet_table_row_for_row():
    report = analyze(create("lenet5"), (1, 28, 28), count_bias=False)
    assert [(r["name"], r["type"], r["units"], r["connections"], r["weights"]) for r in report.layers] == LECTURE_TABLE


def test_biases_counted_show_the_difference():
    with_bias = analyze(create("lenet5"), (1, 28, 28))
    c1 = with_bias.row("C1")
    assert c1["weights"] == 156 and c1["connections"] == 117_600 + 4704  # one bias connection per unit
    assert with_bias.totals["weights"] == 61_706 == sum(p.numel() for p in create("lenet5").parameters())
    assert with_bias.row("S2")["connections"] == 4704  # pooling has no bias


def test_rules_of_thumb_for_lenet():
    r = analyze(create("lenet5"), (1, 28, 28), count_bias=False).rules_of_thumb
    assert r["conv_share_of_units"] == pytest.approx((4704 + 1600) / 8094)
    assert r["conv_share_of_connections"] == pytest.approx(357_600 / 422_824)
    assert r["fc_share_of_weights"] == pytest.approx(58_920 / 61_470)


@pytest.mark.parametrize(
    "name,params,gmacs",
    [
        ("alexnet", 61_100_840, None),
        ("googlenet", 6_624_904, None),
        ("resnet50", 25_557_032, 4.09),
        ("resnet152", 60_192_808, 11.51),
    ],
)
def test_published_totals(name, params, gmacs):
    report = analyze(create(name), (3, 224, 224))
    assert report.totals["weights"] == params
    if gmacs:
        assert report.totals["macs"] / 1e9 == pytest.approx(gmacs, rel=0.01)


def test_lenet_1998_connections_are_the_papers():
    # LeCun et al. 1998 count connections with the bias: C1 122,304, S2 5,880, C3 151,600, S4 2,000, C5 48,120
    report = analyze(create("lenet5-1998"), (1, 28, 28))
    got = {r["name"]: (r["connections"], r["weights"]) for r in report.layers}
    assert got["C1"] == (122_304, 156)
    assert got["S2"] == (5_880, 12)
    assert got["C3"] == (151_600, 1_516)
    assert got["S4"] == (2_000, 32)
    assert got["F5"] == (48_120, 48_120)
    assert report.totals["weights"] == 60_000


class Functional(nn.Module):
    """No conv or linear module: F.conv2d and @ on its own parameters."""

    def __init__(self):
        super().__init__()
        self.w1 = nn.Parameter(torch.randn(16, 1, 3, 3))
        self.w2 = nn.Parameter(torch.randn(1024, 14))

    def forward(self, x):
        y = F.relu(F.conv2d(x, self.w1))  # (N, 16, 8, 8): 1024 units × 9 MACs
        return y.flatten(1) @ self.w2  # 1024 × 14 MACs


def test_functional_ops_are_counted():
    report = analyze(Functional(), (1, 10, 10))
    assert report.totals["macs"] == 16 * 64 * 9 + 1024 * 14 == 23_552  # torchinfo 1.8 and thop: 0; ptflops: 256
    assert [r["type"] for r in report.layers] == ["conv", "fully connected"]
    assert report.totals["weights"] == 16 * 9 + 1024 * 14


def test_max_pooling_is_a_row():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 15 * 15, 4))
    report = analyze(model, (3, 32, 32))
    pool = report.row("1")
    assert pool["type"] == "pooling" and pool["units"] == 8 * 15 * 15 and pool["connections"] == 8 * 15 * 15 * 4


def test_functional_max_pool_and_residual_add_and_cat():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(4, 4, 3, padding=1)

        def forward(self, x):
            y = self.conv(x) + x  # residual add: folds into the conv row
            y = torch.cat([y, x], 1)
            return F.max_pool2d(y, 2)

    report = analyze(Net(), (4, 8, 8))
    assert [r["type"] for r in report.layers] == ["conv", "pooling"]
    assert {"add", "cat"} <= set(report.row("conv")["ops"])
    assert report.layers[1]["connections"] == 8 * 4 * 4 * 4


def test_reused_module_counts_work_twice_and_weights_once():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 3, padding=1)

        def forward(self, x):
            return self.conv(F.relu(self.conv(x)))

    report = analyze(Twice(), (3, 8, 8))
    first, second = report.layers
    assert (first["name"], second["name"]) == ("conv", "conv (call 2)")
    assert first["macs"] == second["macs"] == 3 * 64 * 27
    assert (
        first["weights"] == 84
        and second["weights"] == 0
        and second["shared_parameters"] == ["conv.bias", "conv.weight"]
    )
    assert report.totals["macs"] == 2 * 3 * 64 * 27 and report.totals["weights"] == 84


def test_nested_containers_get_dotted_names():
    inner = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Sequential(nn.Conv2d(2, 2, 1)))
    model = nn.Sequential(inner, nn.Flatten(), nn.Linear(2 * 6 * 6, 3))
    report = analyze(model, (1, 8, 8))
    assert [r["name"] for r in report.layers] == ["0.0", "0.2.0", "2"]
    assert report.totals["weights"] == sum(p.numel() for p in model.parameters())


def test_macs_are_not_called_flops():
    report = analyze(nn.Linear(100, 10), (100,))
    row = report.layers[0]
    assert row["macs"] == 1000 and row["flops"] == 2000 and row["connections"] == 1010


def test_grouped_conv_and_locally_connected():
    depthwise = analyze(nn.Conv2d(8, 8, 3, groups=8, bias=False), (8, 10, 10))
    assert depthwise.totals["macs"] == 8 * 8 * 8 * 9 and depthwise.totals["weights"] == 72
    lc = analyze(LocallyConnected2d(2, 3, (6, 6), 3, bias=False), (2, 6, 6))
    row = lc.layers[0]
    assert row["type"] == "locally connected"
    assert row["weights"] == 16 * 3 * 2 * 9  # a filter per position
    assert row["connections"] == row["macs"] == 3 * 16 * 2 * 9  # each unit sees K²·I inputs


class Branching(nn.Module):
    """A forward whose path depends on the values: meta tensors have none, so the size tracer
    must fall back to real ones."""

    def __init__(self, data_dependent: bool) -> None:
        super().__init__()
        self.data_dependent = data_dependent
        self.conv = nn.Conv2d(1, 4, 3)
        self.fc = nn.Linear(4 * 26 * 26, 10)

    def forward(self, x):
        x = self.conv(x)
        if not self.data_dependent or x.abs().sum() >= 0:  # always true, but only values can say so
            x = torch.relu(x)
        return self.fc(x.flatten(1))


def test_data_dependent_forward_is_traced_on_real_tensors():
    with pytest.raises((RuntimeError, NotImplementedError)):  # what the meta pass alone would do
        Branching(True).to("meta")(torch.zeros(1, 1, 28, 28, device="meta"))
    plain, branching = (analyze(Branching(d), (1, 28, 28)) for d in (False, True))
    assert [(r["name"], r["macs"], r["weights"]) for r in branching.layers] == [
        (r["name"], r["macs"], r["weights"]) for r in plain.layers
    ]
    assert branching.layers[0]["macs"] == 4 * 26 * 26 * 9


def test_memory_figures_scale_with_batch():
    model = create("lenet5")
    one, eight = analyze(model, (1, 28, 28), batch=2), analyze(model, (1, 28, 28), batch=16)
    assert eight.totals["train_activation_bytes"] == 8 * one.totals["train_activation_bytes"] > 0
    assert eight.totals["inference_peak_bytes"] > one.totals["inference_peak_bytes"] > 0
    # the training estimate holds at least every layer's output once (ReLU and pooling save them)
    assert one.totals["train_activation_bytes"] >= 2 * 4 * (4704 + 1600)


def test_the_users_model_is_untouched():
    model = create("lenet5")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    analyze(model, (1, 28, 28))
    assert model.training and all(
        torch.equal(before[k], v) and v.device.type == "cpu" for k, v in model.state_dict().items()
    )


def test_cli_json_contract_and_errors(tmp_path):
    proc = run_cli("size", "lenet5", "--no-bias", "--format", "json", "--plot", str(tmp_path / "p.png"))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    for key in ("name", "type", "output_shape", "units", "weights", "connections", "macs"):
        assert key in data["layers"][0]
    assert data["layers"][2]["connections"] == 240_000 and "totals" in data
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    md = run_cli("size", "lenet5", "--format", "markdown", "-o", str(tmp_path / "t.md"))
    assert md.returncode == 0 and "| C1 | conv |" in (tmp_path / "t.md").read_text()
    assert_one_line_error(run_cli("size", "lenet9"), "unknown model 'lenet9'")
    assert_one_line_error(run_cli("size", "alexnet", "--input", "1,28,28"), "alexnet needs inputs of at least 63×63")
    assert_one_line_error(run_cli("size", "lenet5", "--input", "1,28"), "must be three positive sizes")
    assert_one_line_error(run_cli("size", "lenet5", "--format", "xml"), "--format 'xml'")
