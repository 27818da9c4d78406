"""``blueprint fork``: a fork of a copy of this repository names only the new project and repository.

The old names are read from the copy (``Pulumi.yaml``, the stacks' ``delivery.githubRepository``),
never written here, so these tests hold in a repository that was already forked.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from blueprint.upkeep.fork import CurrentNames, rewriter, spellings
from tests.upkeep.conftest import NEW_PROJECT, NEW_REPOSITORY, copy_repository, run_cli, stack_config, tree


def old_names(root: Path) -> tuple[str, set[str]]:
    project = yaml.safe_load((root / "Pulumi.yaml").read_text())["name"]
    repos = set()
    for path in (root / "stacks").glob("Pulumi.*.yaml"):
        for key, value in (yaml.safe_load(path.read_text())["config"]).items():
            if key.endswith(":delivery") and isinstance(value, dict) and value.get("githubRepository"):
                repos.add(value["githubRepository"])
    return project, repos


def offenders(text: str, project: str, repos: set[str]) -> list[str]:
    words = [re.escape(s) for s in spellings(project)] + [re.escape(r) for r in repos]
    words += [f"(?i:{re.escape(r.split('/')[0])})" for r in repos]
    pattern = re.compile(rf"(?<![A-Za-z0-9])(?:{'|'.join(words)})(?![A-Za-z0-9])")
    return [m.group(0) for m in pattern.finditer(text)]


@pytest.fixture(scope="module")
def forked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, set[str], str]:
    root = copy_repository(tmp_path_factory.mktemp("fork"))
    project, repos = old_names(root)
    assert project != NEW_PROJECT, "pick another test name: the repository already uses it"
    assert NEW_REPOSITORY not in repos, "pick another test repository: the repository already uses it"
    proc = run_cli(root, "fork", "--project", NEW_PROJECT, "--github-repository", NEW_REPOSITORY)
    assert proc.returncode == 0, proc.stderr
    return root, project, repos, proc.stdout


def test_nothing_names_the_old_project_or_org(forked: tuple[Path, str, set[str], str]) -> None:
    root, project, repos, _ = forked
    found = {}
    for rel, data in tree(root).items():
        hits = offenders(rel, project, repos)
        with contextlib.suppress(UnicodeDecodeError):
            hits += offenders(data.decode(), project, repos)
        if hits:
            found[rel] = sorted(set(hits))
    assert found == {}


def test_the_fork_passes_the_lint_and_format_checks(forked: tuple[Path, str, set[str], str]) -> None:
    """A name of another length moves line breaks and a renamed module may sort elsewhere; `make test` runs
    `ruff check` and `ruff format --check`, so fork sorts imports and reformats what it rewrote."""
    root = forked[0]
    for argv in (["check", "."], ["format", "--check", "."]):
        done = subprocess.run(
            [sys.executable, "-m", "ruff", *argv], cwd=root, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_the_new_names_are_in_place(forked: tuple[Path, str, set[str], str]) -> None:
    root, *_ = forked
    assert yaml.safe_load((root / "Pulumi.yaml").read_text())["name"] == NEW_PROJECT
    org = NEW_REPOSITORY.split("/")[0]
    for path in sorted((root / "stacks").glob("Pulumi.*.yaml")):
        config = stack_config(root, path.name[7:-5])
        namespaces = {k.split(":")[0] for k in config}
        assert namespaces <= {NEW_PROJECT, "aws", "kubernetes", "pulumi"}, path.name
        delivery = config.get(f"{NEW_PROJECT}:delivery") or {}
        if delivery:
            assert delivery["githubRepository"] == NEW_REPOSITORY  # GitHub's spelling: the OIDC sub claim
            # S3 names are lowercase: the org is lowercased where it prefixes a bucket.
            assert delivery["stateBucket"] == delivery["stateBucket"].lower()
            assert org.lower() in delivery["stateBucket"]
    snake = NEW_PROJECT.replace("-", "_")
    assert any(p.name.startswith(snake) for p in (root / "policy").iterdir() if p.is_dir())


def test_the_fork_previews_cleanly_and_matches_its_rewritten_snapshots(
    forked: tuple[Path, str, set[str], str], tmp_path: Path
) -> None:
    root, project, repos, _ = forked
    proc = run_cli(root, "preview", "--all", "--quiet", "--json", str(tmp_path))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    stacks = sorted(p.name[7:-5] for p in (root / "stacks").glob("Pulumi.*.yaml"))
    for stack in stacks:
        plan = json.loads((tmp_path / f"{stack}.json").read_text())
        # The rewritten snapshot is what the renamed program plans, up to the order of lists
        # (resources and URNs sort by name, and renamed names sort differently): `make snapshots` settles that.
        snapshot = json.loads((root / "snapshots" / f"{stack}.json").read_text())
        assert _unordered(snapshot) == _unordered(plan), stack
        text = json.dumps(plan)
        assert offenders(text, project, repos) == []
        assert f"::{NEW_PROJECT}::" in text
        labels = re.findall(r'"app\.kubernetes\.io/part-of": "([^"]+)"', text)
        assert labels
        assert set(labels) == {NEW_PROJECT}


def _unordered(v: object) -> object:
    if isinstance(v, dict):
        return {k: _unordered(x) for k, x in v.items()}
    if isinstance(v, list):
        return sorted((_unordered(x) for x in v), key=lambda x: json.dumps(x, sort_keys=True))
    return v


def test_a_second_run_changes_nothing(forked: tuple[Path, str, set[str], str]) -> None:
    root, *_ = forked
    before = tree(root)
    proc = run_cli(root, "fork", "--project", NEW_PROJECT, "--github-repository", NEW_REPOSITORY)
    assert proc.returncode == 0, proc.stderr
    assert "nothing to change" in proc.stdout
    assert tree(root) == before


def test_dry_run_writes_nothing_and_lists_every_line_the_fork_changes(tmp_path: Path) -> None:
    root = copy_repository(tmp_path)
    before = tree(root)
    dry = run_cli(root, "fork", "--project", NEW_PROJECT, "--github-repository", NEW_REPOSITORY, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert tree(root) == before
    listed = set(re.findall(r"^(\S+?):(\d+): ", dry.stdout, re.M))
    renames = set(re.findall(r"^rename (\S+) -> (\S+)$", dry.stdout, re.M))

    # --no-format: exactly the rewrite the dry run lists (the default then re-runs the formatter on top).
    real = run_cli(root, "fork", "--project", NEW_PROJECT, "--github-repository", NEW_REPOSITORY, "--no-format")
    assert real.returncode == 0, real.stderr
    after = tree(root)
    changed = set()
    for rel, data in before.items():
        new_rel = dict(renames).get(rel, rel)
        old_lines, new_lines = (
            data.decode(errors="replace").splitlines(),
            after[new_rel].decode(errors="replace").splitlines(),
        )
        changed |= {(rel, str(i)) for i, (a, b) in enumerate(zip(old_lines, new_lines, strict=True), 1) if a != b}
    assert changed
    assert listed == changed
    assert {new for _, new in renames} <= set(after)
    assert not {old for old, _ in renames} & set(after)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--project", "Lyra-ML"], "--project"),
        (["--project", "9lives"], "--project"),
        (["--project", "lyra--ml"], "--project"),
        (["--project", "lyra_ml"], "--project"),
        (["--project", "l" * 21], "--project"),
        (["--github-repository", "orbit-labs"], "--github-repository"),
        (["--github-repository", "orbit labs/lyra"], "--github-repository"),
        (["--github-repository", "-orbit/lyra"], "--github-repository"),
        (["--github-repository", "orbit/ly ra"], "--github-repository"),
    ],
)
def test_bad_names_are_one_line_usage_errors_and_write_nothing(tmp_path: Path, args: list[str], fragment: str) -> None:
    from blueprint.cli import main

    full = {"--project": NEW_PROJECT, "--github-repository": NEW_REPOSITORY}
    full.update(dict(zip(args[::2], args[1::2], strict=True)))
    (tmp_path / "Pulumi.yaml").write_text("name: untouched\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BLUEPRINT_PROJECT_DIR", str(tmp_path))
        code = main(["fork", *[x for kv in full.items() for x in kv]])
    assert code == 2
    assert (tmp_path / "Pulumi.yaml").read_text() == "name: untouched\n"


def test_bad_name_message_is_one_line_naming_the_argument(capsys: pytest.CaptureFixture[str]) -> None:
    from blueprint.cli import main

    assert main(["fork", "--project", "Lyra", "--github-repository", NEW_REPOSITORY, "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert "--project" in err
    assert "lowercase" in err
    assert "Traceback" not in err


def test_a_project_without_a_repository_to_rename_is_refused(tmp_path: Path) -> None:
    (tmp_path / "stacks").mkdir()
    (tmp_path / "Pulumi.yaml").write_text("name: some-proj\nconfig:\n  region: {type: string}\n")
    (tmp_path / "stacks" / "Pulumi.x.yaml").write_text("config:\n  some-proj:region: eu-west-1\n")
    proc = run_cli(tmp_path, "fork", "--project", NEW_PROJECT, "--github-repository", NEW_REPOSITORY)
    assert proc.returncode == 2
    assert "delivery.githubRepository" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert (tmp_path / "Pulumi.yaml").read_text().startswith("name: some-proj")


# --------------------------------------------------------------------------- the rewrite rules
CURRENT = CurrentNames(("old-proj",), ("old-org/old-repo",))


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("old-proj:region", "new-name:region"),
        ("role/old-proj-deploy-dev", "role/new-name-deploy-dev"),
        ("import old_proj_policies", "import new_name_policies"),
        ("OLD_PROJ_HOME", "NEW_NAME_HOME"),
        ("xold-proj and old-projects stay", "xold-proj and old-projects stay"),
        ("repo:old-org/old-repo:environment:prod", "repo:New-Org/new-repo:environment:prod"),
        ("https://github.com/old-org", "https://github.com/New-Org"),
        ("repo:old-org/*", "repo:New-Org/*"),
        ("old-org-pulumi-state-dev", "new-org-pulumi-state-dev"),
        ("Old-Org-pulumi-state", "new-org-pulumi-state"),
    ],
)
def test_rewrite_rules(before: str, after: str) -> None:
    rewrite = rewriter(CURRENT, "new-name", "New-Org/new-repo")
    assert rewrite is not None
    assert rewrite(before) == after


def test_replaced_text_is_not_rewritten_again() -> None:
    # The new repository keeps the old project's name: one pass, so it is not renamed a second time.
    rewrite = rewriter(CurrentNames(("old-proj",), ("old-org/old-proj",)), "new-name", "new-org/old-proj")
    assert rewrite is not None
    assert (
        rewrite("repository: old-org/old-proj, project: old-proj") == "repository: new-org/old-proj, project: new-name"
    )


def test_same_names_mean_no_rewrite() -> None:
    assert rewriter(CurrentNames(("new-name",), ("new-org/new-repo",)), "new-name", "new-org/new-repo") is None
