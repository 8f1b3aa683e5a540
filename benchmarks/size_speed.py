"""How long a size analysis takes: cnnlab's full report (units, weights, connections, MACs,
memory with the traced backward) against torchinfo, fvcore, ptflops and thop, which count
less (parameters and MACs), on the same model objects in the same process (issue 19).

Every tool is timed on one model in turn, round after round (interleaved, so a busy machine
slows them alike), each timing the best of ``--repeats`` after a warm-up
(``common.seconds``). cnnlab's reports are checked against tests/size/reference_reports.json
(the tracer's numbers before it was made faster) in the same run, and its time per aten op
must stay flat: ResNet-152's time over ResNet-18's within 1.3× of their op-count ratio.

    python benchmarks/size_speed.py               # ~1-2 min on 2 busy cores
    python benchmarks/size_speed.py --rounds 1 --models resnet18,resnet152

The peers' versions are in benchmarks/requirements-peers.txt; a peer that is not installed
shows "—". Writes benchmarks/results/size_speed.json.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import importlib.metadata
import io
import json
import warnings
from pathlib import Path

import torch

import common
from cnnlab.models import create
from cnnlab.size import analyze
from cnnlab.size.trace import trace

MODELS = ("resnet18", "resnet50", "resnet152", "googlenet", "alexnet")
SHAPE = (3, 224, 224)
PEERS = ("torchinfo", "fvcore", "ptflops", "thop")
REFERENCE = Path(__file__).resolve().parents[1] / "tests" / "size" / "reference_reports.json"
SCALING_TOLERANCE = 1.3  # the bound on (time ratio) / (op-count ratio), either way


def cnnlab_run(model):
    return lambda: analyze(model, SHAPE)


def torchinfo_run(model):
    from torchinfo import summary

    return lambda: summary(model, input_size=(1, *SHAPE), verbose=0)


def fvcore_run(model):
    from fvcore.nn import FlopCountAnalysis, parameter_count

    x = torch.zeros(1, *SHAPE)

    def run():
        flops = FlopCountAnalysis(model, x)
        flops.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        return parameter_count(model)[""], flops.total()

    return run


def ptflops_run(model):
    from ptflops import get_model_complexity_info

    return lambda: get_model_complexity_info(model, SHAPE, as_strings=False, print_per_layer_stat=False, verbose=False)


def thop_run(model):
    from thop import profile

    x = torch.zeros(1, *SHAPE)
    return lambda: profile(model, inputs=(x,), verbose=False)


RUNNERS = {
    "cnnlab": cnnlab_run,
    "torchinfo": torchinfo_run,
    "fvcore": fvcore_run,
    "ptflops": ptflops_run,
    "thop": thop_run,
}


def quiet(fn):
    def run():
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), torch.no_grad():
            warnings.simplefilter("ignore")
            return fn()

    return run


def op_count(model) -> int:
    """aten ops in cnnlab's inference pass (each folds into a row; the training pass runs as many again)."""
    rows, _, _ = trace(model, SHAPE, 1)
    return sum(len(r.ops) for r in rows)


def versions() -> dict[str, str | None]:
    out = {}
    for name in PEERS:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def check_reference(name: str, model) -> bool:
    """cnnlab's report on ``model`` is the stored pre-optimization one, field for field."""
    expected = json.loads(REFERENCE.read_text())[f"{name} batch=1 bias=True"]
    got = json.loads(json.dumps(analyze(model, SHAPE).to_dict()))
    return got == expected


# where a profile's time goes, by the file a function lives in (first match wins)
PLACES = [
    (
        "torch's Python meta kernels",
        (
            "torch/_decomp",
            "torch/_refs",
            "torch/_prims",
            "torch/_meta_registrations",
            "symbolic_shapes",
            "torch/_library",
            "torch/_ops.py",
        ),
    ),
    ("cnnlab's tracer", ("cnnlab/size",)),
    ("nn.Module calls and the model's forward", ("torch/nn/modules", "torchvision", "torch/nn/functional")),
    ("functional_call (swapping the stand-ins in)", ("stateless", "_named_member_accessor", "_functorch")),
    ("dynamo's guard around __torch_dispatch__", ("torch/_dynamo", "torch/_compile")),
    ("pytree", ("_pytree",)),
    ("C functions (torch ops, tensor methods, builtins)", ("~",)),
]


def profile(name: str, runs: int) -> dict:
    """cProfile of ``runs`` analyses of ``name``: seconds of own time by place, and the top functions."""
    import cProfile
    import pstats

    model = create(name)
    analyze(model, SHAPE)
    prof = cProfile.Profile()
    for _ in range(runs):
        prof.enable()
        analyze(model, SHAPE)
        prof.disable()
    stats = pstats.Stats(prof).stats  # (file, line, function) -> (calls, primitive calls, own s, total s, callers)
    places: dict[str, float] = {}
    for (file, _, _), (_, _, own, _, _) in stats.items():
        where = next((p for p, keys in PLACES if any(k in file for k in keys)), "other Python")
        places[where] = places.get(where, 0.0) + own / runs
    top = sorted(stats.items(), key=lambda kv: -kv[1][2])[:12]
    return {
        "model": name,
        "runs": runs,
        "seconds_per_run_under_cprofile": sum(places.values()),
        "own_seconds_by_place": dict(sorted(places.items(), key=lambda kv: -kv[1])),
        "top_functions": [
            {"function": f"{Path(f).name}:{line}({fn})", "calls": c // runs, "own_s": own / runs}
            for (f, line, fn), (c, _, own, _, _) in top
        ],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated, from " + ", ".join(MODELS))
    ap.add_argument("--rounds", type=int, default=2, help="interleaved rounds; each tool's best counts")
    ap.add_argument("--repeats", type=int, default=2, help="timings per tool per round, after a warm-up")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (the peers run real forward passes)")
    ap.add_argument("--out", help="JSON path (default benchmarks/results/size_speed.json)")
    ap.add_argument("--profile", action="store_true", help="only profile cnnlab (cProfile) on --models")
    args = ap.parse_args()
    # one thread is the peers' best case on a shared 2-core machine: with two, their forward
    # passes wait on each other (torchinfo on ResNet-18: 2.5 s with 2 threads, 0.30 s with 1)
    torch.set_num_threads(args.threads)
    names = [m for m in args.models.split(",") if m]
    unknown = sorted(set(names) - set(MODELS))
    if unknown:
        raise SystemExit(f"--models: unknown {', '.join(unknown)}; choose from {', '.join(MODELS)}")

    if args.profile:
        result = {"profiles": [profile(n, args.repeats) for n in names]}
        for p in result["profiles"]:
            print(p["model"], f"{p['seconds_per_run_under_cprofile']:.3f} s a run under cProfile")
            for where, sec in p["own_seconds_by_place"].items():
                print(f"  {sec:7.3f} s  {where}")
        common.write_json("size_speed_profile", result, args.out)
        return

    have = {t: v for t, v in versions().items()}
    tools = ["cnnlab"] + [t for t in PEERS if have[t]]
    rows = []
    for name in names:
        torch.manual_seed(0)
        base = create(name).eval()
        models = {t: copy.deepcopy(base) for t in tools}  # thop adds buffers to the model it profiles
        runs = {t: quiet(RUNNERS[t](models[t])) for t in tools}
        best = {t: float("inf") for t in tools}
        for _ in range(args.rounds):
            for t in tools:
                best[t] = min(best[t], common.seconds(runs[t], args.repeats))
        peer_best = min((best[t] for t in tools if t != "cnnlab"), default=None)
        row = {
            "model": name,
            "ops": op_count(base),
            "same_numbers_as_before": check_reference(name, base),
            **{f"{t}_s": best[t] for t in tools},
        }
        if peer_best is not None:
            row["fastest_peer"] = min((t for t in tools if t != "cnnlab"), key=best.get)
            row["cnnlab_over_fastest_peer"] = best["cnnlab"] / peer_best
        rows.append(row)
        print(name, {t: round(best[t], 4) for t in tools}, f"ops {row['ops']}", flush=True)

    print()
    common.print_table(
        rows,
        [("model", "model", ""), ("ops", "aten ops", "d"), ("cnnlab_s", "cnnlab s", ".4f")]
        + [(f"{t}_s", f"{t} s", ".4f") for t in PEERS]
        + [
            ("cnnlab_over_fastest_peer", "cnnlab / fastest peer", ".2f"),
            ("same_numbers_as_before", "same numbers", ""),
        ],
    )
    by = {r["model"]: r for r in rows}
    scaling = None
    if "resnet18" in by and "resnet152" in by:
        # timed in alternation, so that both see the same load (the table's rows are minutes apart)
        small, large = create("resnet18"), create("resnet152")
        t18 = t152 = float("inf")
        for _ in range(args.rounds + 1):
            t18 = min(t18, common.seconds(cnnlab_run(small), args.repeats))
            t152 = min(t152, common.seconds(cnnlab_run(large), args.repeats))
        time_ratio = t152 / t18
        op_ratio = by["resnet152"]["ops"] / by["resnet18"]["ops"]
        scaling = {
            "resnet18_s": t18,
            "resnet152_s": t152,
            "time_ratio_152_over_18": time_ratio,
            "op_ratio_152_over_18": op_ratio,
            "time_over_op_ratio": time_ratio / op_ratio,
            "within_tolerance": 1 / SCALING_TOLERANCE <= time_ratio / op_ratio <= SCALING_TOLERANCE,
        }
        print(
            f"\nscaling: ResNet-152 / ResNet-18 time {time_ratio:.2f}× for {op_ratio:.2f}× the ops "
            f"({time_ratio / op_ratio:.2f}; the bound is 1/{SCALING_TOLERANCE}–{SCALING_TOLERANCE})"
        )
    common.write_json(
        "size_speed",
        {
            "input_shape": list(SHAPE),
            "rounds": args.rounds,
            "repeats": args.repeats,
            "threads": args.threads,
            "peer_versions": have,
            "rows": rows,
            "scaling": scaling,
        },
        args.out,
    )


if __name__ == "__main__":
    main()
