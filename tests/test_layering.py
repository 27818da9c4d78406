"""Import layering (docs architecture): data flows one way, so nothing imports back up.

- ``components/`` never imports ``infra`` (not at module level, not lazily, not under TYPE_CHECKING);
- the shared-types modules of ``components/`` import the standard library only;
- the policy pack imports only the standard library, ``pulumi_policy``/``pulumi`` and itself: the Pulumi
  CLI loads it alone from ``policy/venv`` (policy/requirements.txt), where the program is not importable.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from blueprint.upkeep.docs import SHARED_MODULES

ROOT = Path(__file__).resolve().parent.parent
STDLIB = frozenset(sys.stdlib_module_names) | {"__future__"}
PROGRAM = ("infra", "components", "blueprint", "tests")
POLICY_ALLOWED = STDLIB | {"pulumi_policy", "pulumi", "ai_platform_policies"}
_DYNAMIC = {"import_module", "__import__"}


def imported_modules(source: str, filename: str = "<source>") -> Iterator[tuple[int, str]]:
    """``(line, module)`` for every absolute import in the source, including ``importlib`` calls with a literal."""
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name in _DYNAMIC and isinstance(node.args[0].value, str):
                yield node.lineno, node.args[0].value


def _root(module: str) -> str:
    return module.split(".", 1)[0]


def _violations(paths: list[Path], allowed: frozenset[str] | None, forbidden: tuple[str, ...]) -> list[str]:
    out = []
    for path in paths:
        for line, module in imported_modules(path.read_text(), str(path)):
            root = _root(module)
            if root in forbidden or (allowed is not None and root not in allowed):
                out.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return out


def _python_files(folder: str) -> list[Path]:
    skip = {"venv", ".venv", "__pycache__"}
    return sorted(p for p in (ROOT / folder).rglob("*.py") if not skip & set(p.relative_to(ROOT).parts))


def test_the_scanner_sees_every_kind_of_import() -> None:
    source = (
        "import infra.config\n"
        "from infra import config\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from infra.config import Model\n"
        "def f():\n    import importlib\n    return importlib.import_module('infra.config')\n"
        "from . import _k8s\n"
    )
    found = [m for _, m in imported_modules(source)]
    assert found.count("infra.config") == 3
    assert "infra" in found
    assert "components" not in found  # a relative import stays inside its package


def test_components_do_not_import_infra() -> None:
    files = _python_files("components")
    assert len(files) > 10
    assert _violations(files, None, ("infra",)) == [], "components/ must not import infra (docs architecture)"


@pytest.mark.parametrize("module", sorted(SHARED_MODULES))
def test_shared_component_modules_import_the_standard_library_only(module: str) -> None:
    path = ROOT / "components" / module
    assert path.is_file(), f"blueprint/upkeep/docs.py SHARED_MODULES names {module}, which does not exist"
    assert _violations([path], STDLIB, ()) == []


def test_vocabulary_is_shared_not_duplicated_in_infra_config() -> None:
    """infra/config re-exports the vocabulary: the same objects, not a second copy that could drift."""
    import components.vocabulary as vocabulary
    import infra.config as config

    names = [n for n in dir(vocabulary) if n.isupper() or n in ("GpuInstanceFamily", "gpu_facts")]
    assert {"LABEL_POOL", "GPU_TAINT_KEY", "GPU_FAMILIES", "RUNNER_SERVICE_ACCOUNT"} <= set(names)
    assert [n for n in names if getattr(config, n, None) is not getattr(vocabulary, n)] == []


def test_policy_pack_imports_nothing_from_the_program() -> None:
    files = _python_files("policy")
    assert any(p.name == "__main__.py" for p in files)
    assert _violations(files, POLICY_ALLOWED, PROGRAM) == [], (
        "the policy pack must load alone under the Pulumi CLI: stdlib, pulumi_policy and itself only"
    )
