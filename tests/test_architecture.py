"""The package's shape: one place builds runs, methods are objects, modules stay apart."""

import ast
from pathlib import Path

import napari_mcsc

SRC = Path(napari_mcsc.__file__).parent
METHOD_NAMES = {"sup", "ct", "mcsc"}


def _modules():
    for path in sorted(SRC.rglob("*.py")):
        yield path.relative_to(SRC).as_posix(), ast.parse(path.read_text())


def _called_name(node: ast.Call) -> str | None:
    func = node.func
    return func.id if isinstance(func, ast.Name) else (func.attr if isinstance(func, ast.Attribute) else None)


def test_run_configurations_are_built_by_the_run_specification_only():
    builders = {"profile", "TrainConfig", "with_pretrained_swin"}
    allowed = {"training/config.py", "training/spec.py"}
    found = [
        f"{name}:{node.lineno}"
        for name, tree in _modules()
        if name not in allowed
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and _called_name(node) in builders
    ]
    assert found == []


def test_no_module_compares_a_method_name_but_the_methods():
    def compares_a_method(node: ast.Compare) -> bool:
        values = [node.left, *node.comparators]
        names = {v.value for v in values if isinstance(v, ast.Constant) and isinstance(v.value, str)}
        for v in values:
            if isinstance(v, (ast.Tuple, ast.List, ast.Set)):
                names |= {e.value for e in v.elts if isinstance(e, ast.Constant)}
        return bool(names & METHOD_NAMES) and "method" in ast.unparse(node)

    found = [
        f"{name}:{node.lineno}"
        for name, tree in _modules()
        if name != "training/methods.py"
        for node in ast.walk(tree)
        if isinstance(node, ast.Compare) and compares_a_method(node)
    ]
    assert found == []


def test_the_prediction_side_imports_nothing_from_training():
    for name in ("model.py", "checkpoint.py", "inference.py", "postprocess.py"):
        tree = ast.parse((SRC / name).read_text())
        imported = [
            node.module
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module and "training" in node.module
        ]
        assert imported == [], name


def _imported(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            names.add((node.module or "").split(".")[-1])
        elif isinstance(node, ast.Import):
            names |= {alias.name.split(".")[-1] for alias in node.names}
    return names


def test_io_files_stay_small_and_the_network_modules_do_not_import_each_other():
    assert all(len(p.read_text().splitlines()) <= 300 for p in (SRC / "io").glob("*.py"))
    networks = SRC / "networks"
    assert not {"imagenet_weights", "pretrained"} & _imported(networks / "swin_unet.py")
    assert "swin_unet" not in _imported(networks / "imagenet_weights.py")
