"""The model behind the page: one forward pass gives the prediction and every layer's
activations; one unit's value is recomputed from its input patch and kernel, the way the
lecture's "flip-and-filter" slide does it by hand.

The page shows, for each top-level layer, what the next layer receives: the output *after*
the activation function when the model applies one between layers (LeNet-5's ReLU), which
is what people mean by a layer's activations. The unit arithmetic shows both sides.
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnlab.errors import CnnlabError
from cnnlab.runs import RunDir, Subject, resolve
from cnnlab.viz.layers import check_channel, get_layer

SERVABLE = ("mnist", "fashion-mnist")
DIGITS = 3  # decimals kept in JSON activations: 8-bit displays need no more


@dataclass
class Pass:
    """One forward pass: logits and each top-level layer's input and output."""

    logits: Tensor  # (1, K)
    inputs: dict[str, Tensor]
    outputs: dict[str, Tensor]

    def shown(self, names: list[str], i: int) -> Tensor:
        """Layer i's activations as the next layer receives them (own output for the last)."""
        out = self.outputs[names[i]]
        if i + 1 < len(names):
            nxt = self.inputs.get(names[i + 1])
            if nxt is not None and nxt.numel() == out.numel():
                return nxt.reshape(out.shape)
        return out


def _conv_spec(module: nn.Module):
    """(weight (O, I/groups, kh, kw), bias, stride, padding, dilation, groups) of a conv-like layer, else None."""
    if isinstance(module, nn.Conv2d) and isinstance(module.padding, tuple):
        return module.weight, module.bias, module.stride, module.padding, module.dilation, module.groups
    dense = getattr(module, "dense_weight", None)
    if callable(dense):  # PartialConv2d (lenet5-1998): Table I's zeros included
        return dense(), getattr(module, "bias", None), (1, 1), (0, 0), (1, 1), 1
    return None


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


class Inspector:
    """A trained MNIST-like run, ready to answer the page's questions (thread-safe)."""

    def __init__(self, run_dir: str | Path, viz_dir: Path | None = None) -> None:
        self.run_dir = Path(run_dir)
        if not self.run_dir.is_dir():
            raise CnnlabError(f"run folder {run_dir} does not exist; pass the --out folder of a `cnnlab train` run")
        subject: Subject = resolve(str(run_dir), device="cpu")
        if subject.dataset not in SERVABLE or subject.input_shape[0] != 1:
            raise CnnlabError(
                f"{run_dir} was trained on {subject.dataset} ({'×'.join(map(str, subject.input_shape))}); "
                "cnnlab serve draws 28×28 grey digits: serve an mnist or fashion-mnist run"
            )
        self.subject = subject
        self.model = subject.model.eval()
        self.mean, self.std = subject.mean[0], subject.std[0]
        self.classes = list(subject.classes or [str(i) for i in range(10)])
        self.layers = [name for name, _ in self.model.named_children()]
        self.viz_dir = viz_dir
        self._lock = threading.Lock()  # hooks are shared state: one pass at a time
        self._captured: dict[str, dict[str, Tensor]] = {"in": {}, "out": {}}
        for name in self.layers:
            get_layer(self.model, name).register_forward_hook(self._hook(name))
        self._fields = self._receptive_fields()
        self._model_info: dict[str, Any] | None = None

    # -- forward -------------------------------------------------------------
    def _hook(self, name: str):
        def hook(module, inputs, output):
            self._captured["in"][name] = inputs[0] if inputs and isinstance(inputs[0], Tensor) else None
            self._captured["out"][name] = output[0] if isinstance(output, (tuple, list)) else output

        return hook

    def tensor(self, img: np.ndarray) -> Tensor:
        """(28, 28) in [0, 1] -> (1, *input_shape) as the run was trained (normalized, resized)."""
        return self.subject.preprocess(torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32))[None])

    def forward(self, img: np.ndarray) -> Pass:
        x = self.tensor(img)
        with self._lock, torch.inference_mode():
            self._captured = {"in": {}, "out": {}}
            logits = self.model(x)
            return Pass(logits, dict(self._captured["in"]), dict(self._captured["out"]))

    def predict(self, img: np.ndarray, activations: bool = False) -> dict[str, Any]:
        p = self.forward(img)
        probs = torch.softmax(p.logits[0].float(), 0)
        result: dict[str, Any] = {
            "prediction": int(probs.argmax()),
            "label": self.classes[int(probs.argmax())],
            "probabilities": [round(float(v), 6) for v in probs],
        }
        if activations:
            result["input"] = _rounded(self.tensor(img)[0, 0])
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
                        "data": _rounded(a.flatten()),
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
        module = get_layer(self.model, layer)
        p = self.forward(img)
        out = p.outputs[layer]  # (1, C, H, W) or (1, F)
        check_channel(layer, out, channel)
        if out.ndim == 4 and not (0 <= y < out.shape[2] and 0 <= x < out.shape[3]):
            raise CnnlabError(f"position ({y}, {x}) is outside {layer}'s {out.shape[2]}×{out.shape[3]} maps")
        shown = p.shown(self.layers, self.layers.index(layer))
        at = (0, channel, y, x) if out.ndim == 4 else (0, channel)
        info: dict[str, Any] = {
            "layer": layer,
            "type": type(module).__name__,
            "channel": channel,
            "y": y,
            "x": x,
            "output": round(float(out[at]), 6),
            "activation": round(float(shown[at]), 6),
            "receptive_field": self._box(layer, y, x) if out.ndim == 4 else None,
            "images": self._viz_images(layer, channel),
        }
        inp = p.inputs.get(layer)
        conv, pool = _conv_spec(module), _pool_spec(module)
        if conv is not None and inp is not None and inp.ndim == 4:
            info.update(self._conv_arithmetic(inp[0], conv, channel, y, x))
        elif pool is not None and inp is not None and inp.ndim == 4:
            op, k, s, pad = pool
            padded = F.pad(inp[0], (pad[1], pad[1], pad[0], pad[0]), value=-math.inf if op == "max" else 0.0)
            window = padded[channel, y * s[0] : y * s[0] + k[0], x * s[1] : x * s[1] + k[1]]
            info.update({"kind": "pool", "op": op, "window": _rounded(window)})
        elif isinstance(module, nn.Linear) and inp is not None:
            v = inp[0].flatten()
            w, b = module.weight[channel], module.bias[channel] if module.bias is not None else torch.zeros(())
            terms = w * v
            top = terms.abs().argsort(descending=True)[:8]
            info.update(
                {
                    "kind": "linear",
                    "inputs": v.numel(),
                    "sum": round(float(terms.sum()), 6),
                    "bias": round(float(b), 6),
                    "top_terms": [
                        {"index": int(i), "input": round(float(v[i]), 4), "weight": round(float(w[i]), 4)} for i in top
                    ],
                    "weights": _rounded(w),
                }
            )
        else:
            info["kind"] = "other"
        return info

    def _conv_arithmetic(self, inp: Tensor, conv, c: int, y: int, x: int) -> dict[str, Any]:
        weight, bias, stride, pad, dil, groups = conv
        kh, kw = weight.shape[-2:]
        per_group = weight.shape[1]
        g = c // (weight.shape[0] // groups)
        padded = F.pad(inp, (pad[1], pad[1], pad[0], pad[0]))  # (C_in, H + 2p, W + 2p)
        y0, x0 = y * stride[0], x * stride[1]
        patch = padded[
            g * per_group : (g + 1) * per_group,
            y0 : y0 + dil[0] * (kh - 1) + 1 : dil[0],
            x0 : x0 + dil[1] * (kw - 1) + 1 : dil[1],
        ]  # (C_in/groups, kh, kw)
        w = weight[c]  # (C_in/groups, kh, kw)
        per_channel = (patch * w).sum((1, 2))
        b = float(bias[c]) if bias is not None else 0.0
        return {
            "kind": "conv",
            "kernel": _rounded(w),
            "patch": _rounded(patch),
            "per_channel": [round(float(v), 6) for v in per_channel],
            "bias": round(b, 6),
            "sum": round(float(per_channel.sum()) + b, 6),
            "stride": list(stride),
            "padding": list(pad),
        }

    def _box(self, layer: str, y: int, x: int):
        field = self._fields.get(layer)
        if field is None:
            return None
        (y0, y1), (x0, x1) = field.box((y, x), self.subject.input_shape[1:])
        return {"y0": y0, "y1": y1, "x0": x0, "x1": x1, "size": list(field.size)}

    def _receptive_fields(self) -> dict:
        from cnnlab.viz.receptive_field import receptive_fields

        return receptive_fields(self.model, self.subject.input_shape, self.layers, spatial_only=True)

    def _viz_images(self, layer: str, channel: int) -> list[dict[str, str]]:
        """`cnnlab viz report` files for this unit, if the report was written."""
        if self.viz_dir is None:
            return []
        wanted = [(f"examples_{layer}_{channel}.png", "top test images")]
        if layer == self.layers[-1]:
            wanted.append((f"class_{channel}.png", "feature visualization (gradient ascent)"))
        if layer == self.layers[0]:
            wanted.append(("filters.png", "all first-layer filters"))
        return [{"url": f"/viz/{f}", "title": t} for f, t in wanted if (self.viz_dir / f).is_file()]

    # -- the model as a whole ----------------------------------------------------
    def model_info(self) -> dict[str, Any]:
        if self._model_info is None:
            from cnnlab.size import analyze
            from cnnlab.viz.layers import layer_table

            table = {r["name"]: r for r in layer_table(self.model, self.subject.input_shape)}
            size = analyze(self.model, self.subject.input_shape, name=self.subject.name)
            summary_file = self.run_dir / "summary.json"
            summary = json.loads(summary_file.read_text()) if summary_file.is_file() else {}
            self._model_info = {
                "name": self.subject.name,
                "dataset": self.subject.dataset,
                "classes": self.classes,
                "input_shape": list(self.subject.input_shape),
                "mean": self.mean,
                "std": self.std,
                "test_accuracy": summary.get("test_accuracy"),
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

    def curves(self) -> list[dict[str, Any]]:
        keep = ("epoch", "train_loss", "test_loss", "test_accuracy", "test_top5_accuracy", "lr", "train_seconds")
        return [{k: row[k] for k in keep if k in row} for row in RunDir(self.run_dir).read_metrics()]
