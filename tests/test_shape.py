"""Shape of the source (issue 18): no function over 60 lines and no module over 500 lines outside tests.

Long functions become named steps; long modules split by concern (e.g. components/serving.py and its private
components/_serving_*.py). ``ALLOWED`` would list offenders being split; it only
shrinks: an entry that no longer offends fails the test too, so it is removed as soon as it is fixed.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 500
SKIP = {"tests", ".venv", "venv", "__pycache__", ".git", "node_modules"}

# Offenders still being split (empty: every module and function is within the limits). It only shrinks.
ALLOWED: frozenset[str] = frozenset()


def source_files(root: Path = ROOT) -> list[Path]:
    """Every Python file of the program, the tool and the pack (tests and virtualenvs excluded)."""
    return sorted(p for p in root.rglob("*.py") if not SKIP & set(p.relative_to(root).parts))


def functions(tree: ast.AST, prefix: str = "") -> Iterator[tuple[str, int]]:
    """``(qualified name, lines)`` of every function and method, nested ones included."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.ClassDef):
            yield from functions(node, f"{prefix}{node.name}.")
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield f"{prefix}{node.name}", (node.end_lineno or node.lineno) - node.lineno + 1
            yield from functions(node, f"{prefix}{node.name}.")
        else:
            yield from functions(node, prefix)


def offenders(root: Path = ROOT) -> dict[str, str]:
    """``{where: what}`` for every module over the module limit and every function over the function limit."""
    out = {}
    for path in source_files(root):
        rel, text = path.relative_to(root).as_posix(), path.read_text()
        lines = len(text.splitlines())
        if lines > MAX_MODULE_LINES:
            out[rel] = f"module of {lines} lines"
        for name, length in functions(ast.parse(text, filename=rel)):
            if length > MAX_FUNCTION_LINES:
                out[f"{rel}:{name}"] = f"function of {length} lines"
    return out


def _long_body(indent: str) -> str:
    return "\n".join(f"{indent}x{i} = {i}" for i in range(MAX_FUNCTION_LINES))


def test_the_scanner_measures_functions_methods_and_nested_functions(tmp_path: Path) -> None:
    source = (
        f"def long():\n{_long_body('    ')}\n\n"
        "class C:\n    def short(self):\n        return 1\n\n"
        f"    def method(self):\n        def inner():\n{_long_body('            ')}\n        return inner\n"
    )
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "m.py").write_text(source)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "t.py").write_text(f"def long_test():\n{_long_body('    ')}\n")
    (tmp_path / "big.py").write_text("x = 1\n" * (MAX_MODULE_LINES + 1))
    found = offenders(tmp_path)
    assert set(found) == {"pkg/m.py:long", "pkg/m.py:C.method", "pkg/m.py:C.method.inner", "big.py"}
    assert found["big.py"] == f"module of {MAX_MODULE_LINES + 1} lines"
    assert found["pkg/m.py:long"] == f"function of {MAX_FUNCTION_LINES + 1} lines"


def test_no_long_function_or_module_outside_the_allowlist() -> None:
    found = offenders()
    new = {k: v for k, v in found.items() if k not in ALLOWED}
    assert new == {}, "split these into named steps or modules:\n" + "\n".join(
        f"  {k}: {v}" for k, v in sorted(new.items())
    )


def test_the_allowlist_only_shrinks() -> None:
    fixed = sorted(ALLOWED - set(offenders()))
    assert fixed == [], f"no longer too long, remove from ALLOWED in tests/test_shape.py: {fixed}"


# --------------------------------------------------------------------------- infra/__main__.py
MAIN = ROOT / "infra" / "__main__.py"
MAX_MAIN_LINES = 200
# Computation belongs in infra/wiring/: arithmetic, `or`/`and` fallbacks, conditional values, loops, lambdas.
COMPUTING = (ast.BinOp, ast.BoolOp, ast.IfExp, ast.For, ast.While, ast.comprehension, ast.Lambda, ast.Subscript)


def test_the_program_is_a_table_of_contents() -> None:
    text = MAIN.read_text()
    assert len(text.splitlines()) < MAX_MAIN_LINES
    tree = ast.parse(text)
    computing = [f"line {n.lineno}: {ast.unparse(n)}" for n in ast.walk(tree) if isinstance(n, COMPUTING)]
    assert computing == [], "move this into infra/wiring/:\n" + "\n".join(computing)
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    positional = [ast.unparse(c) for c in calls if len(c.args) > 1]
    assert positional == [], f"wire by keyword after the stack/config argument: {positional}"


def test_the_kubernetes_layer_is_one_visible_switch() -> None:
    """ADR 0008: in-cluster components only with delivery.kubernetesLayer; Karpenter's AWS side in both layers."""
    tree = ast.parse(MAIN.read_text())
    (switch,) = [n for n in ast.walk(tree) if isinstance(n, ast.If)]
    assert ast.unparse(switch.test) == "cfg.delivery.kubernetes_layer"
    inside = {id(n) for stmt in switch.body for n in ast.walk(stmt)}
    steps = [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call)
        and isinstance(n.func, ast.Attribute)
        and isinstance(n.func.value, ast.Name)
        and n.func.value.id in ("in_cluster", "ci")
    ]
    outside = sorted(ast.unparse(n.func) for n in steps if id(n) not in inside)
    assert outside == ["in_cluster.karpenter"]
    assert len(steps) > 8
