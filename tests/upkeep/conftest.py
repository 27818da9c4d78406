"""Copies of the repository to run the upkeep commands on, and a way to run the CLI inside one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import ROOT
from tests.fixtures import PROJECT, REPOSITORY

# Names a fork takes in these tests: deliberately not the example (zeta-ml, acme-corp), and never
# the names this checkout already has (a team that forked to lyra-ml still gets a real rename here).
NEW_PROJECT = "lyra-ml" if PROJECT != "lyra-ml" else "vega-ml"
NEW_REPOSITORY = "Orbit-Labs/lyra-infra" if REPOSITORY.lower() != "orbit-labs/lyra-infra" else "Polar-Works/vega-infra"


def copy_repository(dest: Path) -> Path:
    """The checkout's files (tracked and new, not ignored) in ``dest``, as a fresh git repository."""
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    for rel in filter(None, listed.split("\0")):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    git = ["git", "-C", str(dest), "-c", "user.email=t@example.invalid", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "copy"], check=True)
    return dest


def run_cli(root: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    """``blueprint ARGS`` with the copy's own code and files, as a developer in the copy runs it."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "BLUEPRINT_DEBUG")}
    env.update(PYTHONPATH=str(root), BLUEPRINT_PROJECT_DIR=str(root), NO_COLOR="1")
    return subprocess.run(
        [sys.executable, "-m", "blueprint.cli", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def stack_config(root: Path, stack: str) -> dict:
    """A stack file's ``config:`` mapping, namespaces kept."""
    return (yaml.safe_load((root / "stacks" / f"Pulumi.{stack}.yaml").read_text()) or {}).get("config") or {}


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` but git's own, with its bytes."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and ".git" not in p.relative_to(root).parts and "__pycache__" not in p.parts
    }
