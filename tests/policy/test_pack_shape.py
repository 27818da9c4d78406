"""The pack's shape: each check registered right where it is defined, documented in one line, in short
modules and functions, and every repository path a message names exists."""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from pulumi_policy import Policy

from tests.conftest import ROOT
from tests.policy.harness import PACK

PACK_DIR = ROOT / "policy"
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60
# A repository path inside a string: a top-level folder of this repository, then a file (with an
# extension), a placeholder (`<env>`, `*`) or a docs reference (`docs/adr/0007`). Not preceded by `:`
# or a word character, so ARNs (`aws:policy/...`) and API groups (`kubernetes:policy/v1`) are not paths.
_TOP = "components|infra|policy|stacks|docs|blueprint|tests|snapshots|images"
REPO_PATH = re.compile(rf"(?<![\w./:-])((?:{_TOP})/[\w./<>*-]*[\w>*])")


def _pack_files() -> list[Path]:
    return sorted(p for p in PACK_DIR.rglob("*.py") if not {"venv", "__pycache__"} & set(p.parts))


def _check(policy: Policy) -> object:
    return policy.check  # type: ignore[attr-defined]


@pytest.mark.parametrize("policy", PACK.ALL_POLICIES, ids=lambda p: p.name)
def test_every_check_has_a_one_line_docstring(policy: Policy) -> None:
    doc = inspect.getdoc(_check(policy)) or ""
    assert doc, f"{policy.name}: its check has no docstring saying what it enforces"
    assert "\n" not in doc, f"{policy.name}: one line: {doc!r}"
    assert doc.endswith("."), f"{policy.name}: a sentence: {doc!r}"
    assert len(doc) < 120, policy.name


@pytest.mark.parametrize("policy", PACK.ALL_POLICIES, ids=lambda p: p.name)
def test_every_check_sits_under_its_registration(policy: Policy) -> None:
    source = inspect.getsource(_check(policy))  # includes the decorators
    head = source[: source.index("def ")]
    assert head.lstrip().startswith(("@POLICIES.resource(", "@POLICIES.stack(")), policy.name
    assert f'"{policy.name}"' in head, f"{policy.name} is registered away from its check"


def test_the_checks_are_distinct_functions() -> None:
    checks = [_check(p) for p in PACK.ALL_POLICIES]
    assert len({id(c) for c in checks}) == len(checks) == len(PACK.ALL_POLICIES)


def test_modules_and_functions_stay_short() -> None:
    problems = []
    for path in _pack_files():
        text = path.read_text()
        rel = path.relative_to(ROOT)
        if len(text.splitlines()) > MAX_MODULE_LINES:
            problems.append(f"{rel}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    problems.append(f"{rel}:{node.lineno} {node.name} is {length} lines")
    assert not problems, problems


def _named_paths() -> Iterator[tuple[str, str]]:
    """``(path, where)`` for every repository path in a string literal of the pack (f-string parts included)."""
    for path in _pack_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                for found in REPO_PATH.findall(node.value):
                    last = found.rsplit("/", 1)[-1]
                    if "." in last or "<" in found or "*" in found or found.startswith("docs/"):
                        yield found, f"{path.relative_to(ROOT)}:{node.lineno}"


def _exists(named: str) -> bool:
    """The path exists; a placeholder file name (``<stack>.json``, one the user creates) needs its directory."""
    pattern = re.sub(r"<[^>]*>", "*", named)
    if "<" in named.rsplit("/", 1)[-1] and (ROOT / named.rsplit("/", 1)[0]).is_dir():
        return True
    return any(ROOT.glob(pattern)) or any(ROOT.glob(pattern + "*"))


def test_the_path_scanner_finds_paths_and_skips_arns() -> None:
    text = (
        "set x (components/gpu.py) in stacks/Pulumi.<stack>.yaml; arn:aws:iam::aws:policy/ReadOnly kubernetes:policy/v1"
    )
    assert REPO_PATH.findall(text) == ["components/gpu.py", "stacks/Pulumi.<stack>.yaml"]
    assert not _exists("components/gpu.py")
    assert _exists("stacks/Pulumi.<stack>.yaml")
    assert _exists("docs/adr/0007")


def test_every_path_a_message_names_exists() -> None:
    named = list(_named_paths())
    assert len({p for p, _ in named}) >= 10, "the scanner sees the pack's messages"
    missing = sorted({f"{where}: {p}" for p, where in named if not _exists(p)})
    assert not missing, missing


def test_each_fixture_row_lives_in_the_cases_module_of_its_policy_module() -> None:
    """``workloads/pods.py`` -> ``cases_workloads_pods.py`` (or ``cases_workloads_pods_<more>.py``)."""
    module_of = {p.name: _check(p).__module__.split(".", 1)[1].replace(".", "_") for p in PACK.ALL_POLICIES}  # type: ignore[attr-defined]
    seen, misplaced = set(), []
    for path in sorted((ROOT / "tests" / "policy").glob("cases_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "case":
                name = node.args[0].value  # type: ignore[attr-defined]
                seen.add(name)
                want = f"cases_{module_of[name]}"
                if path.stem != want and not path.stem.startswith(want + "_"):
                    misplaced.append(f"{path.name}: {name} belongs in {want}.py")
    assert not misplaced, misplaced
    assert seen == set(module_of), "every policy's row is found by this scan"
