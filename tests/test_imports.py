"""The package's imports point down its layers and form no cycle (issue 16).

Every ``import`` in ``src/cnnlab`` counts, function-local ones included, so a lazy import
cannot hide a cycle. Third-party imports are not looked at (optional heavy ones such as
matplotlib or fastapi may stay lazy).
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "cnnlab"

# Bottom to top. A module may import from its own folder and from any lower layer, never from
# a higher one or from another folder of its own layer.
LAYERS = [
    {"errors"},
    {"outputs"},  # the output-file policy that atomic writes go through
    {"atomic", "device", "paths", "extras", "limits"},  # small helpers
    {"display"},  # pictures in a notebook (saved with atomic, sized with limits)
    {""},  # `cnnlab` itself: its version, and cnnlab.show (display) loaded on first use
    {"data", "conv"},
    {"nn"},  # layers use conv's output-size helper (conv/shapes.py)
    {"models"},
    {"runs"},
    {"train", "size", "viz"},
    {"serve", "experiments"},
    {"cli"},
    {"__main__"},
]
LAYER_OF = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports(path: Path, mods: dict[str, Path]) -> set[str]:
    """The cnnlab modules that ``path`` imports (anywhere in the file)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "cnnlab"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            if base.split(".")[0] != "cnnlab":
                continue
            for a in node.names:
                sub = f"{base}.{a.name}"
                found.add(sub if sub in mods else base)
    found.discard(name)
    return {m for m in found if m in mods}


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {m: imports(p, mods) for m, p in mods.items()}


def folder(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_every_folder_has_a_layer():
    assert {folder(m) for m in modules()} <= set(LAYER_OF), set(map(folder, modules())) - set(LAYER_OF)


def test_imports_point_down_the_layers():
    wrong = []
    for src, targets in graph().items():
        for dst in targets:
            a, b = folder(src), folder(dst)
            if a != b and LAYER_OF[b] >= LAYER_OF[a]:
                wrong.append(f"{src} -> {dst}")
    assert not wrong, "imports that point up or sideways:\n" + "\n".join(sorted(wrong))


def test_no_import_cycles():
    found = cycles(graph())
    assert not found, found


def test_the_checker_sees_cycles_and_upward_edges():
    """The checker itself: a made-up cycle and a made-up upward edge are caught."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert not cycles({"a": {"b"}, "b": {"c"}})
    assert LAYER_OF["data"] < LAYER_OF["runs"] < LAYER_OF["train"] < LAYER_OF["serve"] < LAYER_OF["cli"]


def constants(path: Path) -> set:
    """The literal values (numbers, short strings) and the names used in a module's code."""
    found: set = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str)) and len(str(node.value)) < 40:
            found.add(node.value)
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)
        elif isinstance(node, ast.Name):
            found.add(node.id)
    return found


# issue 16: "one of each". A value that defines one of these may be written in one module only;
# everything else imports it from there.
ONE_HOME = {
    "XDG_CACHE_HOME": "cnnlab.paths",  # the cache folder (platformdirs reads the variable itself)
    "user_cache_dir": "cnnlab.paths",
    ".cache": "cnnlab.paths",
    0.485: "cnnlab.data.stats",  # ImageNet's mean and std (torchvision's)
    0.229: "cnnlab.data.stats",
    "empty_like": "cnnlab.nn.meta",  # stand-in tensors for a pass on the meta device
}


def test_each_definition_is_written_once():
    found = {value: sorted(m for m, p in modules().items() if value in constants(p)) for value in ONE_HOME}
    wrong = {v: ms for v, ms in found.items() if [m for m in ms if m != ONE_HOME[v]]}
    assert not wrong, f"written outside its one home: {wrong}"
