"""The README promises what a forking team relies on: the two quick-start commands and the runbooks."""

from __future__ import annotations

import re

from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()


def section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.M | re.S)
    assert match, f"README.md has no '## {title}' section"
    return match.group(1)


def test_quick_start_is_exactly_the_two_make_commands() -> None:
    first_block = re.search(r"```bash\n(.*?)```", section("Quick start"), re.S)
    assert first_block
    assert first_block.group(1).split("\n")[:-1] == ["make preview", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^preview:", makefile, re.M)
    assert re.search(r"^test:", makefile, re.M)


def test_deploy_section_walks_bootstrap_login_secrets_and_up_with_policy() -> None:
    text = section("Deploying for real")
    for needle in (
        "blueprint bootstrap",
        "pulumi login 's3://",
        "--secrets-provider 'awskms://",
        "pulumi config set --secret",
        "pulumi up      --stack dev --policy-pack policy --policy-pack-config policy/config/dev.json",
    ):
        assert needle in text, needle


def test_fork_and_day_two_runbooks_are_there() -> None:
    fork = section("Forking the blueprint")
    assert "Pulumi.yaml" in fork
    assert "PROJECT" in fork
    day2 = section("Day-2 tasks")
    for task in ("Add a GPU pool", "Add a model", "Promote an image", "Rotate a secret", "Upgrade EKS"):
        assert f"**{task}" in day2, task


def test_architecture_diagram_is_mermaid() -> None:
    assert "```mermaid\nflowchart" in README


def test_every_workflow_is_in_the_readme_table() -> None:
    for wf in sorted((ROOT / ".github" / "workflows").glob("*.yml")):
        assert f"| `{wf.name}` |" in README, wf.name
