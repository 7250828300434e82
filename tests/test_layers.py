"""The one rule of the house, read from the import graph: the library never imports the experiments
or the runners, the experiments never import a runner, and nothing imports the papermill runner."""
from __future__ import annotations

import ast
import shutil
from pathlib import Path

import reconstruction_defense

PACKAGE = Path(reconstruction_defense.__file__).parent
RUNNERS = {"run", "rerun", "report", "precompute", "recdef"}


def module_name(file: Path, root: Path) -> str:
    parts = list(file.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(file: Path, root: Path, modules: set[str]) -> set[str]:
    """The package's modules that ``file`` imports (relative or absolute, ``from X import m``
    counted as importing ``X.m`` when that is a module)."""
    name = module_name(file, root)
    package = name if file.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(file.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        found |= {t for t in targets if t in modules}
    return found


def layer(module: str) -> str:
    parts = module.split(".")[1:]
    if parts and parts[0] == "experiments":
        return "experiments"
    return "runner" if parts and parts[0] in RUNNERS else "library"


def violations(root: Path) -> list[str]:
    """Every import in the package at ``root`` that breaks the rule, as 'a imports b (why)'."""
    files = sorted(root.rglob("*.py"))
    modules = {module_name(f, root) for f in files}
    allowed = {"library": {"library"}, "experiments": {"library", "experiments"},
               "runner": {"library", "experiments", "runner"}}
    found = []
    for file in files:
        source = module_name(file, root)
        for target in sorted(imports_of(file, root, modules)):
            if target.endswith(".rerun"):
                found.append(f"{source} imports {target} (nothing imports the papermill runner)")
            elif layer(target) not in allowed[layer(source)]:
                found.append(f"{source} imports {target} ({layer(source)} -> {layer(target)} is not allowed)")
    return found


def test_the_package_keeps_its_layers():
    assert violations(PACKAGE) == []
    assert {layer(f"reconstruction_defense.{m}") for m in ("zoo", "adaptive", "experiments.transfer", "run")} == {
        "library", "experiments", "runner"}


def test_a_planted_violation_is_caught(tmp_path):
    copy = tmp_path / "reconstruction_defense"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    with open(copy / "quantize.py", "a") as fh:
        fh.write("\nfrom .experiments.transfer import transfer_archs\n")
    with open(copy / "experiments" / "strength.py", "a") as fh:
        fh.write("\nfrom .. import run\n")
    with open(copy / "report.py", "a") as fh:
        fh.write("\nimport reconstruction_defense.rerun\n")
    assert violations(copy) == [
        "reconstruction_defense.experiments.strength imports reconstruction_defense.run "
        "(experiments -> runner is not allowed)",
        "reconstruction_defense.quantize imports reconstruction_defense.experiments.transfer "
        "(library -> experiments is not allowed)",
        "reconstruction_defense.report imports reconstruction_defense.rerun (nothing imports the papermill runner)"]


def test_no_module_over_250_lines():
    long = {str(f.relative_to(PACKAGE)): n for f in PACKAGE.rglob("*.py")
            if (n := len(f.read_text().splitlines())) > 250}
    assert long == {}


def test_no_function_over_50_lines_unless_a_comment_says_why():
    """A longer function must carry a ``# long because ...`` comment."""
    long = []
    for file in PACKAGE.rglob("*.py"):
        lines = file.read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = lines[node.lineno - 1:node.end_lineno]
                if len(body) > 50 and not any("# long because" in line for line in body):
                    long.append(f"{file.name}:{node.lineno} {node.name} ({len(body)} lines)")
    assert long == []
