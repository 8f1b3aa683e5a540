"""The model behind the page: one forward pass gives the prediction and every layer's
activations; one unit's value is recomputed from its input patch and kernel, the way the
lecture's "flip-and-filter" slide does it by hand.

The page shows, for each top-level layer, what the next layer receives: the output *after*
the activation function when the model applies one between layers (LeNet-5's ReLU), which
is what people mean by a layer's activations. The unit arithmetic shows both sides.
"""

from __future__ import annotations

import base64
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnlab.errors import CnnlabError
from cnnlab.runs import Run
from cnnlab.serve.live import is_digits, load_newest_weights, native_shape, training_state, weights_stamp
from cnnlab.serve.testset import TestImages
from cnnlab.viz.layers import check_channel, get_layer

DIGITS = 3  # decimals kept in JSON numbers shown as text
RELOAD_EVERY = 1.0  # seconds between looks at the run folder for new weights
MISTAKES_SHOWN = 60  # misclassified test images sent to the page


ACTIVATION_MODULES = (
    nn.ReLU,
    nn.LeakyReLU,
    nn.ELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Hardswish,
    nn.Tanh,
    nn.Sigmoid,
    nn.Hardtanh,
)


def _running_batch_norm(module: nn.Module) -> TypeGuard[nn.modules.batchnorm._BatchNorm]:
    """Batch norm that normalizes by its running statistics on the page (eval mode, tracked)."""
    return (
        isinstance(module, nn.modules.batchnorm._BatchNorm)
        and not module.training
        and module.running_mean is not None
        and module.running_var is not None
    )


def _batch_norm_arithmetic(
    v: Tensor, bn: nn.modules.batchnorm._BatchNorm, c: int, spatial: bool = True
) -> dict[str, Any]:
    """One unit of eval-mode batch norm: y = γ·(x − μ)/√(σ² + ε) + β, μ and σ² the running
    statistics of channel ``c`` gathered in training, γ and β its learned scale and shift.
    ``spatial``: the channel is a map (BatchNorm2d), not one feature (BatchNorm1d)."""
    assert bn.running_mean is not None and bn.running_var is not None
    mean, var = float(bn.running_mean[c]), float(bn.running_var[c])
    gamma = float(bn.weight[c].detach()) if bn.weight is not None else 1.0
    beta = float(bn.bias[c].detach()) if bn.bias is not None else 0.0
    std = math.sqrt(var + bn.eps)
    normalized = (float(v) - mean) / std
    return {
        "kind": "batchnorm",
        "spatial": spatial,
        "input": round(float(v), 6),
        "mean": round(mean, 6),
        "var": round(var, 6),
        "eps": bn.eps,
        "std": float(f"{std:.6g}"),  # √(σ² + ε), significant digits: a near-dead channel's is ~0.003
        "affine": bn.weight is not None,  # False: no learned scale and shift (γ = 1, β = 0)
        "gamma": round(gamma, 6),
        "beta": round(beta, 6),
        "normalized": round(normalized, 6),
        "sum": round(gamma * normalized + beta, 6),
    }


@dataclass
class Pass:
    """One forward pass: logits and each top-level layer's input and output."""

    x: Tensor  # (1, C, H, W) the model's input
    logits: Tensor  # (1, K)
    inputs: dict[str, Tensor | None]  # None: a layer whose first input is not a tensor
    outputs: dict[str, Tensor]

    def shown(self, names: list[str], i: int) -> Tensor:
        """Layer i's activations as the next layer receives them (own output for the last)."""
        out = self.outputs[names[i]]
        if i + 1 < len(names):
            nxt = self.inputs.get(names[i + 1])
            if nxt is not None and nxt.numel() == out.numel():
                return nxt.reshape(out.shape)
        return out


ConvSpec = tuple[Tensor, Tensor | None, tuple[int, ...], tuple[int, ...], tuple[int, ...], int]


def _conv_spec(module: nn.Module) -> ConvSpec | None:
    """(weight (O, I/groups, kh, kw), bias, stride, padding, dilation, groups) of a conv-like layer, else None."""
    # zero padding only: the arithmetic pads with zeros (reflect, replicate, circular are not shown)
    if isinstance(module, nn.Conv2d) and isinstance(module.padding, tuple) and module.padding_mode == "zeros":
        return module.weight, module.bias, module.stride, module.padding, module.dilation, module.groups
    dense = getattr(module, "dense_weight", None)
    weight = dense() if callable(dense) else None  # PartialConv2d (lenet5-1998): Table I's zeros included
    if isinstance(weight, Tensor):
        return weight, getattr(module, "bias", None), (1, 1), (0, 0), (1, 1), 1
    return None


def _conv_bn_block(module: nn.Module) -> tuple[nn.Module, nn.modules.batchnorm._BatchNorm, nn.Module] | None:
    """(conv, batch norm, activation) of a block that is exactly conv → batch norm (running statistics) →
    an elementwise activation (``ConvBNReLU``), else None."""
    if not isinstance(module, nn.Sequential) or len(module) != 3:
        return None
    conv, bn, act = module
    if _conv_spec(conv) is None or not _running_batch_norm(bn) or not isinstance(act, ACTIVATION_MODULES):
        return None
    return conv, bn, act


def _pool_spec(module: nn.Module):
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)  # noqa: E731
        k = pair(module.kernel_size)
        s = pair(module.stride or module.kernel_size)
        p = pair(module.padding)
        return ("max" if isinstance(module, nn.MaxPool2d) else "mean"), k, s, p
    return None


def _rounded(t: Tensor) -> list:
    return np.round(t.detach().float().cpu().numpy(), DIGITS).tolist()


def packed(t: Tensor) -> str:
    """A tensor as base64 little-endian float32, row-major: ~10× faster to encode and parse
    than a JSON list of numbers (``np.frombuffer(base64.b64decode(s), "<f4")`` reads it)."""
    return base64.b64encode(t.detach().float().cpu().contiguous().numpy().astype("<f4").tobytes()).decode()


def unit_name(layer: str, shape: list[int], index: int) -> str:
    """Flat input index -> "S4 map 8 (1, 0)" for a (C, H, W) layer, "F5 unit 17" otherwise."""
    if len(shape) == 3:
        c, h, w = shape
        m, r = divmod(index, h * w)
        return f"{layer} map {m} ({r // w}, {r % w})"
    return f"{layer} unit {index}"


class Inspector:
    """A trained run (or one still training), ready to answer the page's questions (thread-safe)."""

    def __init__(self, run_dir: str | Path, viz_dir: Path | None = None) -> None:
        self.run = Run.open(run_dir)
        self.run_dir = self.run.path
        self.model = self.run.build().eval()  # fresh weights until the run's newest are loaded
        self.weights_file = load_newest_weights(self.run, self.model)  # None: a run with no checkpoint yet
        self.pipeline = self.run.pipeline
        self.input_shape = self.pipeline.input_shape  # (C, H, W)
        self.native_shape = native_shape(self.pipeline)  # (C, H, W) of the dataset's own images
        self.digits = is_digits(self.pipeline)  # a drawing is centred like MNIST's digits
        self.layers = [name for name, _ in self.model.named_children()]
        if not self.layers:
            raise CnnlabError(f"{run_dir}: model {self.run.name} has no layers to show")
        self.viz_dir = viz_dir
        self._lock = threading.RLock()  # hooks and weights are shared state: one pass at a time
        self._captured: dict[str, dict[str, Any]] = {"in": {}, "out": {}}  # what the hooks saw
        for name in self.layers:
            get_layer(self.model, name).register_forward_hook(self._hook(name))
        self._fields = self._receptive_fields()
        self._model_info: dict[str, Any] | None = None
        self.version = 0  # counts the weights loaded since start (a new checkpoint: +1)
        self._stamp = weights_stamp(self.run)
        self._checked = time.monotonic()
        self.test_images = TestImages(self.run)
        # class names as recorded; a run from before cnnlab recorded them: from its test set, else numbers
        found = self.pipeline.classes or (None if self.digits else self.test_images.classes())
        self.classes: list[str] = list(found or map(str, range(int(self.run.model_args["num_classes"]))))
        self._mistakes: tuple[int, list] | None = None

    # -- a run still training: new weights as checkpoints land ------------------
    def refresh(self) -> bool:
        """Load newer weights if the run folder has them (looked at once a second); True if it did."""
        now = time.monotonic()
        if now - self._checked < RELOAD_EVERY:
            return False
        self._checked = now
        stamp = weights_stamp(self.run)
        if stamp == self._stamp:
            return False
        with self._lock:
            self.weights_file = load_newest_weights(self.run, self.model) or self.weights_file
            self._stamp = stamp
            self.version += 1
            self._model_info = None
        return True

    def status(self) -> dict[str, Any]:
        self.refresh()
        return {**training_state(self.run), "version": self.version, "weights": self.weights_file}

    # -- forward -------------------------------------------------------------
    def _hook(self, name: str):
        def hook(module, inputs, output):
            # copies: a later in-place op (ReLU(inplace=True) after a conv or batch norm) would
            # otherwise change what this layer is shown to have read and produced
            x = inputs[0] if inputs and isinstance(inputs[0], Tensor) else None
            out = output[0] if isinstance(output, (tuple, list)) else output
            self._captured["in"][name] = None if x is None else x.clone()
            self._captured["out"][name] = out.clone() if isinstance(out, Tensor) else out

        return hook

    def tensor(self, img: np.ndarray) -> Tensor:
        """The dataset's own image ((H, W) or (C, H, W) in [0, 1]) -> (1, C, H, W) model input."""
        x = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32))
        return self.pipeline.preprocess(x.view(1, -1, *x.shape[-2:]))  # (1, Cn, Hn, Wn) in

    def forward(self, img: np.ndarray) -> Pass:
        x = self.tensor(img)
        with self._lock, torch.inference_mode():
            self._captured = {"in": {}, "out": {}}
            logits = self.model(x)
            return Pass(x, logits, dict(self._captured["in"]), dict(self._captured["out"]))

    def predict(self, img: np.ndarray, activations: bool = False) -> dict[str, Any]:
        self.refresh()
        p = self.forward(img)
        logits = p.logits[0].float()
        probs = torch.softmax(logits, 0)
        result: dict[str, Any] = {
            "prediction": int(probs.argmax()),
            "label": self.classes[int(probs.argmax())],
            "probabilities": [round(float(v), 6) for v in probs],
            "logits": [round(float(v), 6) for v in logits],
            "version": self.version,
        }
        if activations:
            x = p.x[0]  # (C, H, W)
            result["input"] = {"shape": list(x.shape), "data": packed(x)}
            layers = []
            for i, name in enumerate(self.layers):
                if name not in p.outputs or not isinstance(p.outputs[name], Tensor):
                    continue
                a = p.shown(self.layers, i)[0]  # (C, H, W) or (F,)
                layers.append(
                    {
                        "name": name,
                        "shape": list(a.shape),
                        "min": round(float(a.min()), DIGITS),
                        "max": round(float(a.max()), DIGITS),
                        "data": packed(a),
                    }
                )
            result["layers"] = layers
        return result

    # -- one unit --------------------------------------------------------------
    @torch.no_grad()
    def unit(self, img: np.ndarray, layer: str, channel: int, y: int = 0, x: int = 0) -> dict[str, Any]:
        """Everything the page shows for one clicked unit: its weights, receptive field, the
        arithmetic that produced its value, and the visualization files made for it."""
        if layer not in self.layers:
            raise CnnlabError(f"no layer {layer!r}; the page's layers are {', '.join(self.layers)}")
        self.refresh()
        module = get_layer(self.model, layer)
        p = self.forward(img)
        out = p.outputs[layer]  # (1, C, H, W) or (1, F)
        check_channel(layer, out, channel)
        if out.ndim == 4 and not (0 <= y < out.shape[2] and 0 <= x < out.shape[3]):
            raise CnnlabError(f"position ({y}, {x}) is outside {layer}'s {out.shape[2]}×{out.shape[3]} maps")
        i = self.layers.index(layer)
        shown = p.shown(self.layers, i)
        before = self.layers[i - 1] if i > 0 else "input"
        before_shape = list(p.shown(self.layers, i - 1)[0].shape) if i > 0 else list(self.input_shape)
        at = (0, channel, y, x) if out.ndim == 4 else (0, channel)
        info: dict[str, Any] = {
            "layer": layer,
            "type": type(module).__name__,
            "channel": channel,
            "y": y,
            "x": x,
            "output": round(float(out[at]), 6),
            "activation": round(float(shown[at]), 6),
            "last": i == len(self.layers) - 1,
            "input_layer": before,
            "input_layer_shape": before_shape,
            "receptive_field": self._box(layer, y, x) if out.ndim == 4 else None,
            "images": self._viz_images(layer, channel),
        }
        inp = p.inputs.get(layer)
        conv, pool = _conv_spec(module), _pool_spec(module)
        block = _conv_bn_block(module)
        if conv is not None and inp is not None and inp.ndim == 4:
            info.update(self._conv_arithmetic(inp[0], conv, channel, y, x))
            info["output_map"] = {"shape": list(out.shape[2:]), "data": packed(out[0, channel])}
        elif block is not None and inp is not None and inp.ndim == 4:
            # conv → batch norm → activation in one layer (mnist-best's ConvBNReLU): the conv's
            # arithmetic on the block's input, then batch norm's on the conv's sum
            spec = _conv_spec(block[0])
            assert spec is not None
            summed = block[0](inp)  # (1, O, H', W'): the conv's own output, which the browser rebuilds
            info.update(self._conv_arithmetic(inp[0], spec, channel, y, x))
            info["output_map"] = {"shape": list(summed.shape[2:]), "data": packed(summed[0, channel])}
            info["batchnorm"] = _batch_norm_arithmetic(summed[0, channel, y, x], block[1], channel)
            info["activation_type"] = type(block[2]).__name__
        elif pool is not None and inp is not None and inp.ndim == 4:
            info.update(self._pool_arithmetic(inp[0], pool, channel, y, x))
        elif isinstance(module, nn.Linear) and inp is not None:
            info.update(self._linear_arithmetic(inp[0].flatten(), module, channel, before, before_shape))
        elif _running_batch_norm(module) and inp is not None and inp.ndim == out.ndim:
            info.update(_batch_norm_arithmetic(inp[(0, channel, *at[2:])], module, channel, spatial=out.ndim == 4))
        else:
            info["kind"] = "other"
        if info["last"]:
            logits = p.logits[0].float()
            info["logits"] = [round(float(v), 6) for v in logits]
            info["probabilities"] = [round(float(v), 6) for v in torch.softmax(logits, 0)]
        return info

    def _conv_arithmetic(self, inp: Tensor, conv, c: int, y: int, x: int) -> dict[str, Any]:
        weight, bias, stride, pad, dil, groups = conv
        kh, kw = weight.shape[-2:]
        per_group = weight.shape[1]
        g = c // (weight.shape[0] // groups)
        padded = F.pad(inp, (pad[1], pad[1], pad[0], pad[0]))  # (C_in, H + 2p, W + 2p)
        y0, x0 = y * stride[0], x * stride[1]
        maps = slice(g * per_group, (g + 1) * per_group)
        patch = padded[
            maps,
            y0 : y0 + dil[0] * (kh - 1) + 1 : dil[0],
            x0 : x0 + dil[1] * (kw - 1) + 1 : dil[1],
        ]  # (C_in/groups, kh, kw)
        w = weight[c]  # (C_in/groups, kh, kw)
        per_channel = (patch * w).sum((1, 2))
        b = float(bias[c]) if bias is not None else 0.0
        # the input maps this unit reads: all of its group, less those its kernel is zero on
        # (LeNet-5 1998's Table I connects each C3 map to only some S2 maps)
        feeds = [g * per_group + k for k in range(per_group) if bool(w[k].ne(0).any())]
        return {
            "kind": "conv",
            "kernel": _rounded(w),
            "kernel_data": packed(w),
            "patch": _rounded(patch),
            "per_channel": [round(float(v), 6) for v in per_channel],
            "bias": round(b, 6),
            "sum": round(float(per_channel.sum()) + b, 6),
            "stride": list(stride),
            "padding": list(pad),
            "dilation": list(dil),
            "feeds": feeds,
            "input_maps": {"shape": list(inp[maps].shape), "first": g * per_group, "data": packed(inp[maps])},
        }

    def _pool_arithmetic(self, inp: Tensor, pool, c: int, y: int, x: int) -> dict[str, Any]:
        op, k, s, pad = pool
        padded = F.pad(inp[c], (pad[1], pad[1], pad[0], pad[0]), value=-math.inf if op == "max" else 0.0)
        window = padded[y * s[0] : y * s[0] + k[0], x * s[1] : x * s[1] + k[1]]  # (kh, kw)
        best = int(window.flatten().argmax())
        return {
            "kind": "pool",
            "op": op,
            "window": _rounded(window),
            "window_origin": [y * s[0] - pad[0], x * s[1] - pad[1]],  # top-left, in input coordinates
            "argmax": [best // window.shape[1], best % window.shape[1]],
            "input_map": {"shape": list(inp.shape[1:]), "data": packed(inp[c])},
        }

    def _linear_arithmetic(self, v: Tensor, module: nn.Linear, c: int, before: str, shape: list[int]):
        w = module.weight[c]  # (F_in,)
        b = module.bias[c] if module.bias is not None else torch.zeros(())
        terms = w * v
        top = terms.abs().argsort(descending=True)[:8]
        layout = shape if math.prod(shape) == v.numel() else [v.numel()]
        return {
            "kind": "linear",
            "inputs": v.numel(),
            "sum": round(float(terms.sum()), 6),
            "bias": round(float(b), 6),
            "top_terms": [
                {
                    "index": int(i),
                    "name": unit_name(before, layout, int(i)),
                    "input": round(float(v[i]), 4),
                    "weight": round(float(w[i]), 4),
                }
                for i in top
            ],
            "weights": _rounded(w),
            "weights_layout": layout,
        }

    def _box(self, layer: str, y: int, x: int):
        field = self._fields.get(layer)
        if field is None:
            return None
        (y0, y1), (x0, x1) = field.box((y, x), self.input_shape[1:])
        return {"y0": y0, "y1": y1, "x0": x0, "x1": x1, "size": list(field.size)}

    def _receptive_fields(self) -> dict:
        from cnnlab.viz.receptive_field import receptive_fields

        return receptive_fields(self.model, self.input_shape, self.layers, spatial_only=True)

    def _viz_images(self, layer: str, channel: int) -> list[dict[str, str]]:
        """`cnnlab viz report` files for this unit, those the report wrote."""
        if self.viz_dir is None:
            return []
        wanted = [
            (f"examples_{layer}_{channel}.png", "top-9 test images for this channel"),
            (
                f"features_{layer}_{channel}.png",
                "optimized input for this channel's centre unit, its field outlined (gradient ascent)",
            ),
        ]
        if layer == self.layers[-1]:
            wanted.append((f"class_{channel}.png", "optimized input for this class (gradient ascent)"))
        if layer == self.layers[0]:
            wanted.append(("filters.png", "all first-layer filters"))
        return [{"url": f"/viz/{f}", "title": t} for f, t in wanted if (self.viz_dir / f).is_file()]

    # -- the model as a whole ----------------------------------------------------
    def first_filters(self) -> dict[str, Any] | None:
        """The first convolution's weights (O, I, kh, kw): they change most visibly while training."""
        for name in self.layers:
            module = get_layer(self.model, name)
            block = _conv_bn_block(module)  # a conv → BN → activation block: its conv's filters
            conv = _conv_spec(module if block is None else block[0])
            if conv is not None:
                with self._lock:
                    w = conv[0].detach()
                    return {"layer": name, "shape": list(w.shape), "data": packed(w), "version": self.version}
        return None

    def model_info(self) -> dict[str, Any]:
        self.refresh()
        if self._model_info is None:
            from cnnlab.size import analyze
            from cnnlab.viz.layers import layer_table

            table = {r["name"]: r for r in layer_table(self.model, self.input_shape)}
            size = analyze(self.model, self.input_shape, name=self.run.name)
            summary = self.run.summary or {}
            pipe = self.pipeline
            self._model_info = {
                "name": self.run.name,
                "dataset": self.run.config.dataset,
                "classes": self.classes,
                "input_shape": list(self.input_shape),
                "native_shape": list(self.native_shape),
                "mean": list(pipe.mean),
                "std": list(pipe.std),
                "resize": self.run.config.resize,
                "digits": self.digits,
                "label_smoothing": self.run.config.label_smoothing,
                "test_accuracy": summary.get("test_accuracy"),
                "test_images": self.test_images.available(),
                "test_count": self.test_images.count(),
                "layers": [
                    {
                        "name": n,
                        "type": table[n]["type"],
                        "output_shape": table[n]["output_shape"],
                        "params": sum(p.numel() for p in get_layer(self.model, n).parameters()),
                        "receptive_field": list(self._fields[n].size) if n in self._fields else None,
                    }
                    for n in self.layers
                    if n in table
                ],
                "size": size.to_dict(),
                "viz": self.viz_dir is not None,
            }
        return self._model_info

    def curves(self) -> dict[str, Any]:
        keep = ("epoch", "train_loss", "test_loss", "test_accuracy", "test_top5_accuracy", "lr", "train_seconds")
        rows = [{k: row[k] for k in keep if k in row} for row in self.run.metrics]
        return {
            "epochs": rows,
            "epochs_planned": self.run.config.epochs,
            "label_smoothing": self.run.config.label_smoothing,
        }

    def mistakes(self, limit: int = MISTAKES_SHOWN) -> dict[str, Any]:
        """The test images the current weights get wrong, most confident first (cached per weights)."""
        self.refresh()
        if self._mistakes is None or self._mistakes[0] != self.version:
            with self._lock:
                version = self.version
                found = self.test_images.mistakes(self.model, self.pipeline)
            self._mistakes = (version, found)
        version, found = self._mistakes
        return {
            "version": version,
            "count": len(found),
            "total": self.test_images.count(),
            "shape": list(self.native_shape),
            "images": found[:limit],
        }
