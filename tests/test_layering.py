"""The package's imports point one way and form no cycle (docs/architecture.md, "Layers").

Every ``import`` of the package is read from the source (``ast``), including the imports
inside functions, which run later but tie the modules together all the same. A module may
import modules of its own layer or of a layer below; a new top-level module or package has
to be given a layer here first.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "img2img"

# Lowest first. Written down once here; docs/architecture.md shows the same list.
LAYERS: list[set[str]] = [
    # foundations: no networks, no tasks
    {
        "checkpoint", "config", "devices", "ema", "engines", "images", "loggers", "optim",
        "hub_models", "precision", "registry", "reporting", "saved_models", "tiling", "version",
        "watch",
    },
    {"backbones", "data", "nets"},  # frozen pretrained networks, datasets, architectures
    {"losses"},  # objectives, penalties, the Adversary, perceptual losses
    {"tasks"},  # one recipe per task
    {
        "catalog", "distributed", "export", "file_translation", "infer", "model_cards",
        "push", "sampling", "speedups",
    },  # use a task's model
    {"metrics"},  # evaluate models
    {"train", "validation"},  # the Trainer, and what it measures while training
    {"demo"},  # the web demo (its GAN Lab trains with the Trainer)
    {"__init__", "__main__", "cli"},  # the public API and argv
]  # fmt: skip
LAYER = {group: rank for rank, groups in enumerate(LAYERS) for group in groups}


def module_name(path: Path) -> str:
    parts = ["img2img", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def group(module: str) -> str:
    """``img2img.metrics.sr`` -> ``metrics``; the package itself is ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports(path: Path, modules: set[str]) -> set[str]:
    """The package's modules that ``path`` imports anywhere in its body."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            # `from img2img.metrics import sr` imports the module img2img.metrics.sr.
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                       for a in node.names]  # fmt: skip
        else:
            continue
        found.update(t for t in targets if t == "img2img" or t.startswith("img2img."))
    return found - {name}


def import_graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(path) for path in paths}
    return {module_name(path): imports(path, modules) for path in paths}


def test_every_module_has_a_layer() -> None:
    unplaced = sorted({group(module) for module in import_graph()} - set(LAYER))
    assert not unplaced, f"give these a layer in LAYERS (and docs/architecture.md): {unplaced}"


def test_no_import_points_against_the_layers() -> None:
    against = [
        f"{source} ({group(source)}) imports {target} ({group(target)})"
        for source, targets in import_graph().items()
        for target in sorted(targets)
        if LAYER[group(target)] > LAYER[group(source)]
    ]
    assert not against, "imports against the layering:\n" + "\n".join(against)


def test_no_import_cycle() -> None:
    graph = import_graph()
    cycles: list[list[str]] = []
    state: dict[str, str] = {}  # "open" while on the current path, "done" after

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)
