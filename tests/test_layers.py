"""The house rules, read from the code: the import rule of ``pyproject.toml`` holds (import-linter:
layers, and no circle between siblings), and it fails on a planted upward import and on a planted
circle; ruff's lint and format pass; no module over 250 lines, no function over 50 unexplained
(lines as written, not the formatter's continuation lines)."""

from __future__ import annotations

import ast
import io
import shutil
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest
from importlinter.api import read_configuration

import reconstruction_defense

PACKAGE = Path(reconstruction_defense.__file__).parent
REPO = PACKAGE.parent


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` with the repository's contracts on the package copy under ``root``."""
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "from importlinter.cli import lint_imports_command; lint_imports_command()",
            "--no-cache",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
    )


def package_copy(tmp_path: Path) -> Path:
    shutil.copytree(PACKAGE, tmp_path / PACKAGE.name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    return tmp_path / PACKAGE.name


def broken_contracts(output: str) -> list[str]:
    contracts = read_configuration(str(REPO / "pyproject.toml"))["contracts_options"]
    flat = " ".join(output.split())  # the report wraps long contract names
    return [c["name"] for c in contracts if f"{c['name']} BROKEN" in flat]


def test_the_package_keeps_its_import_rule(tmp_path):
    package_copy(tmp_path)
    done = lint_imports(tmp_path)
    assert done.returncode == 0 and "0 broken" in done.stdout, done.stdout + done.stderr


PLANTS = {  # file, appended import, the contract it breaks, the import the report names
    "upward": (
        "method/quantize.py",
        "from ..experiments.transfer import transfer_archs",
        "layers",
        "reconstruction_defense.method.quantize -> reconstruction_defense.experiments.transfer",
    ),
    "circle": (
        "config/device.py",
        "from . import profiles",
        "no import circle",  # profiles imports device
        "reconstruction_defense.config",
    ),
}


@pytest.mark.parametrize("plant", PLANTS)
def test_a_planted_upward_import_or_circle_breaks_the_rule(tmp_path, plant):
    file, line, contract, named = PLANTS[plant]
    with open(package_copy(tmp_path) / file, "a") as fh:
        fh.write(f"\n{line}\n")
    done = lint_imports(tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert [c for c in broken_contracts(done.stdout) if c.startswith(contract)] != []
    if plant == "circle":  # a circle inside one layer breaks no layer
        assert [c.split(":")[0] for c in broken_contracts(done.stdout)] == [
            "no import circle between sibling modules or packages"
        ]
    assert named in " ".join(done.stdout.split()), done.stdout


def test_ruff_lint_and_format_pass():
    for command in (["check", "."], ["format", "--check", "."]):
        done = subprocess.run([sys.executable, "-m", "ruff", *command], cwd=REPO, capture_output=True, text=True)
        assert done.returncode == 0, f"ruff {' '.join(command)}:\n{done.stdout}{done.stderr}"


def source_lines(source: str) -> set[int]:
    """The line numbers of ``source`` that begin a statement, a comment, a blank line or a
    docstring line: every line but those that only continue an expression the formatter spread
    over several lines (one argument per line), so the size rules below do not depend on it."""
    depth, first_of_line, rows = 0, set(), set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        row = token.start[0]
        if token.type in (tokenize.DEDENT, tokenize.ENDMARKER):  # zero-width, after the last line
            continue
        if row not in first_of_line:
            first_of_line.add(row)
            if depth == 0:
                rows |= set(range(row, token.end[0] + 1))
        if token.type == tokenize.OP and token.string in "([{":
            depth += 1
        elif token.type == tokenize.OP and token.string in ")]}":
            depth -= 1
    return rows


def test_source_lines_do_not_count_an_expression_spread_over_lines():
    compact = 'def f(a):\n    """Two\n    lines."""\n    return g(a, 1, 2)  # why\n'
    spread = 'def f(a):\n    """Two\n    lines."""\n    return g(\n        a,\n        1,\n        2,\n    )  # why\n'
    assert len(source_lines(compact)) == len(source_lines(spread)) == 4


def test_no_module_over_250_lines():
    long = {
        str(f.relative_to(PACKAGE)): n for f in PACKAGE.rglob("*.py") if (n := len(source_lines(f.read_text()))) > 250
    }
    assert long == {}


def test_no_function_over_50_lines_unless_a_comment_says_why():
    """A longer function must carry a ``# long because ...`` comment."""
    long = []
    for file in PACKAGE.rglob("*.py"):
        text = file.read_text()
        rows, lines = source_lines(text), text.splitlines()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                size = len([r for r in rows if node.lineno <= r <= node.end_lineno])
                body = lines[node.lineno - 1 : node.end_lineno]
                if size > 50 and not any("# long because" in line for line in body):
                    long.append(f"{file.name}:{node.lineno} {node.name} ({size} lines)")
    assert long == []
