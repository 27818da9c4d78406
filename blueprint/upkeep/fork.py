"""``blueprint fork --project NAME --github-repository ORG/REPO [--dry-run]``: make the blueprint yours.

The current names are read from the project, never assumed: the project from ``Pulumi.yaml``'s
``name`` and from the namespace the stack files use (after ``pulumi new`` from a fork the two
differ: the CLI rewrites ``name`` only), the repository from every stack's
``delivery.githubRepository``. Every tracked text file is then rewritten in one pass:

- ``ORG/REPO`` -> the new ``ORG/REPO`` (trust policies, URLs, examples);
- the org alone -> the new org, as given where GitHub reads it (``ORG/…``, ``github.com/ORG``,
  ``repo:ORG``), lowercased elsewhere (bucket names such as ``ORG-pulumi-state-dev`` must be);
- the project in its spellings: ``kebab-name`` (config namespace, role, cluster, label, pack and
  marker names), ``snake_name`` (the policy pack's Python package, imports) and ``UPPER_SNAKE``.

Matches are whole words: a name is not replaced inside a longer word (``xai-platform``), but is
replaced as the prefix or suffix of a hyphenated or underscored name (``ai-platform-deploy-dev``).
Paths are renamed the same way (``policy/<snake>_policies/``). Prose that describes *what* the
project is ("AI platform on AWS") is not its name and stays.

Running it again with the same arguments changes nothing. ``--dry-run`` prints every change
(file, line, old -> new) and every rename, and writes nothing.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

EXIT_OK = 0

# A Pulumi project name allows letters, digits, `-`, `_` and `.` (pulumi/sdk go/common/tokens).
# This one also becomes part of an S3 bucket prefix (lowercase, no `_`, at most 37 characters with
# the stack name and `-artifacts-`), IAM role names (64), an EKS cluster name and the value of the
# `app.kubernetes.io/part-of` label (a DNS-label-like value, 63), and its snake form names the
# policy pack's Python package: so lowercase letters, digits and single hyphens, starting with a letter.
PROJECT_NAME = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
PROJECT_MAX = 20
# GitHub: an owner is 1-39 alphanumerics or single inner hyphens; a repository 1-100 of [A-Za-z0-9._-].
_OWNER = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
_REPO = re.compile(r"^[A-Za-z0-9._-]{1,100}$")

# Namespaces of providers, never the project's (their keys may share names with it: `aws:region`).
PROVIDER_NAMESPACES = frozenset({"aws", "kubernetes", "docker", "pulumi", "random", "tls", "command"})

_WORD = "A-Za-z0-9"


class ForkError(Exception):
    """The project cannot be forked as asked (one line, exit 2)."""


def check_project(name: str) -> str:
    """``name`` if it is a usable project name, else :class:`ForkError` saying what is allowed."""
    if not PROJECT_NAME.match(name) or len(name) > PROJECT_MAX:
        raise ForkError(
            f"--project {name!r}: use 2-{PROJECT_MAX} lowercase letters, digits and single hyphens, starting with "
            "a letter (it names S3 buckets, IAM roles, the EKS cluster and a Kubernetes label value)"
        )
    if len(name) < 2:
        raise ForkError(f"--project {name!r}: at least 2 characters")
    return name


def check_repository(repo: str) -> str:
    """``repo`` if it is ``OWNER/REPO`` as GitHub allows them, else :class:`ForkError`."""
    owner, sep, name = repo.partition("/")
    if not sep or not _OWNER.match(owner) or not _REPO.match(name) or name in (".", ".."):
        raise ForkError(
            f"--github-repository {repo!r}: expected OWNER/REPO (owner: letters, digits, single hyphens, at most 39; "
            "repo: letters, digits, '.', '_', '-')"
        )
    return repo


def _argtype(check: Callable[[str], str]) -> Callable[[str], str]:
    def parse(value: str) -> str:
        try:
            return check(value)
        except ForkError as exc:
            raise argparse.ArgumentTypeError(str(exc).split(": ", 1)[1]) from None

    return parse


# --------------------------------------------------------------------------- current names
@dataclass(frozen=True)
class CurrentNames:
    """What the project is called now."""

    projects: tuple[str, ...]
    """``Pulumi.yaml``'s name and every project namespace the stack files use."""
    repositories: tuple[str, ...]
    """Every ``delivery.githubRepository`` (``ORG/REPO``)."""


def _yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ForkError(f"{path.name}: cannot read it ({exc})") from None


def current_names(root: Path) -> CurrentNames:
    """The project and repository names the files use today."""
    project = _yaml(root / "Pulumi.yaml") or {}
    name = project.get("name") if isinstance(project, dict) else None
    if not isinstance(name, str) or not name:
        raise ForkError("Pulumi.yaml: no `name:`; is this the blueprint's root directory?")
    declared = set((project.get("config") or {}).keys())
    projects, repos = [name], []
    for path in sorted((root / "stacks").glob("Pulumi.*.yaml")):
        config = (_yaml(path) or {}).get("config") or {}
        for key, value in config.items():
            ns, sep, bare = str(key).partition(":")
            if not sep or ns in PROVIDER_NAMESPACES or bare not in declared:
                continue
            if ns not in projects:
                projects.append(ns)
            if bare == "delivery" and isinstance(value, dict):
                repo = value.get("githubRepository")
                if isinstance(repo, str) and "/" in repo and repo not in repos:
                    repos.append(repo)
    return CurrentNames(tuple(projects), tuple(repos))


# --------------------------------------------------------------------------- the rewrite
def spellings(project: str) -> list[str]:
    """The forms a project name takes in files: kebab, snake, UPPER_SNAKE (deduplicated, in that order)."""
    kebab = project.replace("_", "-")
    snake = project.replace("-", "_")
    return list(dict.fromkeys([kebab, snake, snake.upper()]))


@dataclass(frozen=True)
class Rewriter:
    """One-pass replacement of the old names by the new ones (replaced text is never rescanned)."""

    pattern: re.Pattern[str]
    table: dict[str, str]
    orgs: dict[str, str]
    """Old org (lowercase) -> new org as given."""

    def __call__(self, text: str) -> str:
        return self.pattern.sub(self._one, text)

    def _one(self, m: re.Match[str]) -> str:
        found = m.group(0)
        if found in self.table:
            return self.table[found]
        new_org = self.orgs[found.lower()]
        before, after = m.string[: m.start()], m.string[m.end() : m.end() + 1]
        on_github = after == "/" or before.endswith(("github.com/", "repo:"))
        return new_org if on_github else new_org.lower()


def rewriter(current: CurrentNames, project: str, repository: str) -> Rewriter | None:
    """The rewrite from ``current`` to the new names, or None when they already are the new names."""
    table: dict[str, str] = {}
    for old in current.repositories:
        if old != repository:
            table[old] = repository
    new_forms = spellings(project)
    for old in current.projects:
        for old_form, new_form in zip(spellings(old), new_forms, strict=False):
            if old_form != new_form:
                table[old_form] = new_form
    new_org = repository.split("/")[0]
    orgs = {o.split("/")[0].lower(): new_org for o in current.repositories if o.split("/")[0] != new_org}
    words = sorted(table, key=len, reverse=True)
    alternatives = [re.escape(w) for w in words] + [f"(?i:{re.escape(o)})" for o in sorted(orgs, key=len, reverse=True)]
    if not alternatives:
        return None
    pattern = re.compile(rf"(?<![{_WORD}])(?:{'|'.join(alternatives)})(?![{_WORD}])")
    return Rewriter(pattern, table, orgs)


# --------------------------------------------------------------------------- files
_SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}


def project_files(root: Path) -> list[str]:
    """Tracked files (``git ls-files``); outside a git checkout (a template copy), every file but caches and venvs."""
    try:
        out = subprocess.run(  # noqa: S603 - fixed argv, no shell
            ["git", "-C", str(root), "ls-files", "-z"],  # noqa: S607 - git from PATH, as a developer runs it
            capture_output=True,
            check=True,
            text=True,
        ).stdout
        tracked = sorted(p for p in out.split("\0") if p and (root / p).is_file())
        if tracked:
            return tracked
    except (OSError, subprocess.CalledProcessError):
        pass
    files = []
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if path.is_file() and not (set(rel.parts[:-1]) & _SKIP_DIRS) and not rel.parts[0].endswith(".egg-info"):
            files.append(rel.as_posix())
    return sorted(files)


def _text(path: Path) -> str | None:
    data = path.read_bytes()
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


@dataclass(frozen=True)
class LineChange:
    path: str
    line: int
    old: str
    new: str


@dataclass
class ForkPlan:
    """What ``fork`` would write: new file contents, path renames, and every changed line."""

    contents: dict[str, str] = field(default_factory=dict)
    renames: dict[str, str] = field(default_factory=dict)
    lines: list[LineChange] = field(default_factory=list)

    def empty(self) -> bool:
        return not self.contents and not self.renames


def plan_fork(root: Path, project: str, repository: str) -> tuple[CurrentNames, ForkPlan]:
    """Compute the fork of ``root`` to ``project`` and ``repository`` without writing anything."""
    current = current_names(root)
    if not current.repositories:
        raise ForkError(
            "no stack file sets delivery.githubRepository, so the current org/repo is unknown; set it in one stack file"
        )
    plan = ForkPlan()
    rewrite = rewriter(current, project, repository)
    if rewrite is None:
        return current, plan
    for rel in project_files(root):
        new_rel = "/".join(rewrite(part) for part in rel.split("/"))
        if new_rel != rel:
            plan.renames[rel] = new_rel
        text = _text(root / rel)
        if text is None:
            continue
        new_text = rewrite(text)
        if new_text != text:
            plan.contents[rel] = new_text
            plan.lines.extend(_changed_lines(rel, text, new_text))
    return current, plan


def _changed_lines(rel: str, old: str, new: str) -> Iterable[LineChange]:
    # The rewrite never adds or removes a newline, so lines correspond one to one.
    for i, (a, b) in enumerate(zip(old.splitlines(), new.splitlines(), strict=True), start=1):
        if a != b:
            yield LineChange(rel, i, a, b)


def apply_fork(root: Path, plan: ForkPlan) -> None:
    """Write the plan: contents first, then renames (``git mv`` in a checkout, so history follows)."""
    for rel, text in plan.contents.items():
        (root / rel).write_text(text)
    tracked = (root / ".git").exists()
    for old, new in plan.renames.items():
        (root / new).parent.mkdir(parents=True, exist_ok=True)
        moved = tracked and subprocess.run(  # noqa: S603 - fixed argv, no shell
            ["git", "-C", str(root), "mv", "-f", old, new],  # noqa: S607
            capture_output=True,
            check=False,
        )
        if not moved or moved.returncode != 0:
            (root / old).rename(root / new)
    for old in plan.renames:
        _prune_empty_dirs(root, Path(old).parent)


def format_python(root: Path, plan: ForkPlan) -> str | None:
    """Re-run the project's formatter on the rewritten Python files: a name of another length moves line
    breaks, and `make test` (ruff format --check) would fail the fork otherwise. None when it ran."""
    files = [str(root / plan.renames.get(rel, rel)) for rel in plan.contents if rel.endswith(".py")]
    if not files:
        return None
    if importlib.util.find_spec("ruff") is None:
        return "ruff is not installed here: run `make fix` (sorts imports and formats) before `make test`"
    # Imports first (a renamed module may sort elsewhere), then the layout.
    for argv in (["check", "--select", "I", "--fix", "--quiet"], ["format", "--quiet"]):
        done = subprocess.run(  # noqa: S603 - fixed argv, no shell
            [sys.executable, "-m", "ruff", *argv, *files], cwd=root, capture_output=True, check=False
        )
        if done.returncode != 0:
            return f"ruff {argv[0]} failed: {(done.stderr or done.stdout).decode().strip()[:300]}"
    return None


def _prune_empty_dirs(root: Path, rel: Path) -> None:
    """Remove a renamed package's old directory once only bytecode caches are left in it."""
    while rel.parts:
        d = root / rel
        if not d.is_dir():
            rel = rel.parent
            continue
        leftovers = [p for p in d.iterdir() if p.name != "__pycache__"]
        if leftovers:
            return
        for cache in d.glob("__pycache__"):
            for f in cache.iterdir():
                f.unlink()
            cache.rmdir()
        d.rmdir()
        rel = rel.parent


# --------------------------------------------------------------------------- output
def _clip(old: str, new: str, width: int = 100) -> tuple[str, str]:
    """The changed part of a long line with some context (snapshot lines run to thousands of characters)."""
    old, new = old.strip(), new.strip()
    if len(old) <= width and len(new) <= width:
        return old, new
    start = next((i for i, (a, b) in enumerate(zip(old, new, strict=False)) if a != b), 0)
    lo = max(0, start - 30)
    return ("…" if lo else "") + old[lo : lo + width] + "…", ("…" if lo else "") + new[lo : lo + width] + "…"


def describe(plan: ForkPlan, out: Any = None) -> None:
    """Print every rename and every changed line, then the totals."""
    out = out or sys.stdout
    for old, new in plan.renames.items():
        print(f"rename {old} -> {new}", file=out)
    for ch in plan.lines:
        a, b = _clip(ch.old, ch.new)
        print(f"{ch.path}:{ch.line}: {a} -> {b}", file=out)
    print(f"{len(plan.lines)} lines in {len(plan.contents)} files, {len(plan.renames)} renames", file=out)


# --------------------------------------------------------------------------- command
def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``fork`` to the CLI."""
    p = subparsers.add_parser(
        "fork",
        help="rename the project and its GitHub repository everywhere (config namespace, roles, pack, workflows)",
        description="Rename the project and the GitHub ORG/REPO in every tracked file of the project directory.",
    )
    p.add_argument("--project", required=True, type=_argtype(check_project), help="new Pulumi project name")
    p.add_argument(
        "--github-repository", required=True, type=_argtype(check_repository), metavar="ORG/REPO", help="your fork"
    )
    p.add_argument("--dry-run", action="store_true", help="print every change and write nothing")
    p.add_argument(
        "--no-format",
        action="store_true",
        help="write exactly the listed lines; skip re-running `ruff format` on the rewritten Python files",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """The ``fork`` command: plan, print, and unless ``--dry-run`` write."""
    from blueprint.stackfiles import project_root

    root = project_root()
    try:
        current, plan = plan_fork(root, args.project, args.github_repository)
    except ForkError as exc:
        print(f"fork: {exc}", file=sys.stderr)
        return 2
    olds = ", ".join([*current.projects, *current.repositories])
    if plan.empty():
        print(f"nothing to change: the project is already {args.project} ({args.github_repository})")
        return EXIT_OK
    describe(plan)
    if args.dry_run:
        print(
            f"dry run: nothing written (from {olds}); a real run also re-runs `ruff format` on the rewritten Python files"
        )
        return EXIT_OK
    apply_fork(root, plan)
    note = None if args.no_format else format_python(root, plan)
    if note:
        print(f"fork: {note}", file=sys.stderr)
    print(
        f"renamed {olds} -> {args.project}, {args.github_repository}.\n"
        "Next: set accountId, region and tags in stacks/*.yaml (and the accounts in cluster.adminRoleArns and\n"
        "delivery.deployRunner.connectionArn), then `make snapshots docs test` and commit.\n"
        "A renamed project has new URNs and role names: fork before the first `pulumi up`."
    )
    return EXIT_OK
