"""The README promises what a forking team relies on: the two quick-start commands and the runbooks."""

from __future__ import annotations

import re
from typing import Any

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
        "blueprint policy-config dev --output out/policy-config/dev.json",
        "pulumi up      --stack dev --policy-pack policy --policy-pack-config out/policy-config/dev.json",
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


def _positions(text: str, needles: list[str]) -> list[int]:
    found = [text.find(n) for n in needles]
    missing = [n for n, i in zip(needles, found, strict=True) if i < 0]
    assert not missing, f"README's deploy section lacks {missing}"
    return found


def test_first_deploy_steps_come_in_an_order_that_works() -> None:
    # Issue 19: install (make and pulumi install), bootstrap, login with ?region=, stack init (commit the
    # provider fields), secrets, preflight with the caller's admission, the cloud-layer `up` by an admitted
    # administrator, hand-over (environments, then the variable) and CI's Kubernetes layer.
    text = section("Deploying for real")
    steps = [
        "make .venv/.runtime policy-venv",
        "pulumi install ",
        "(cd policy && pulumi install)",
        "blueprint bootstrap",
        "delivery.deployRunner.connectionArn",
        "pulumi login 's3://example-org-pulumi-state-dev?region=us-west-2",
        "**Commit both fields**",
        "pulumi stack init dev --secrets-provider 'awskms://",
        "pulumi config set --secret",
        "pulumi config set --secret mlflowAdminPassword",
        # Issue 11: models wait for images and weights nobody has pushed yet; hold them back until
        # preflight (run as CI does, without --first-deploy) finds both.
        "`deploy: false` under `serving.modelDefaults`",
        "blueprint preflight dev --first-deploy",
        "pulumi config set --path delivery.kubernetesLayer false",
        "pulumi up      --stack dev",
        "pulumi config rm --path delivery.kubernetesLayer",
        "`dev-preview`, `staging-preview` and `prod-preview`",
        "`AWS_PREVIEW_ROLE_ARN`",
        "Merging it runs the deploy workflow",
        "**Switch the models on.**",
        ".venv/bin/blueprint preflight dev\n",
        "Then set `deploy: true`",
    ]
    positions = _positions(text, steps)
    assert positions == sorted(positions), [
        s for s, _ in sorted(zip(steps, positions, strict=True), key=lambda x: x[1])
    ]
    assert "one of `cluster.adminRoleArns`" in text
    assert "AWS CLI v2" in text


def test_the_readme_commands_exist() -> None:
    from infra.config import DeliveryConfig

    makefile = (ROOT / "Makefile").read_text()
    for target in (".venv/.runtime", "policy-venv"):
        assert re.search(rf"^(\$\(VENV\)/\.runtime|{re.escape(target)}):", makefile, re.M), target
    # `pulumi config set --path delivery.kubernetesLayer` must name a real key of the delivery config.
    assert DeliveryConfig.model_fields["kubernetes_layer"].alias == "kubernetesLayer"
    assert DeliveryConfig.model_fields["kubernetes_layer"].default is True
    # `deploy: false` under `serving.modelDefaults` must name a real field of a model spec.
    from infra.config import ModelSpec, ServingConfig

    assert ServingConfig.model_fields["model_defaults"].alias == "modelDefaults"
    assert "deploy" in ModelSpec.model_fields


def test_readme_environments_and_runner_labels_are_the_ones_the_workflows_use() -> None:
    import yaml

    from infra.config import runner_project_name
    from tests.conftest import STACKS

    text = section("Deploying for real")
    preview = yaml.safe_load((ROOT / ".github" / "workflows" / "preview.yml").read_text())["jobs"]["cloud"]
    assert preview["environment"] == "${{ matrix.stack }}-preview"
    # The README names the example's preview environments; every one it names is a stack's (a fork's added
    # stacks need not be listed, a renamed or removed one must not linger).
    named = set(re.findall(r"`([a-z0-9-]+)-preview`", text))
    assert named, "the README names the preview environments"
    assert named <= set(STACKS), named - set(STACKS)
    assert f"codebuild-{runner_project_name('<stack>')}-" in text


def test_the_key_move_grants_both_aliases_before_switching() -> None:
    day2 = section("Day-2 tasks")
    start = day2.index("**Move a stack to another secrets key.**")
    block = day2[start : day2.index("**Upgrade EKS", start)]
    order = _positions(
        block, ["[alias/<old>, alias/<new>]", "pulumi stack change-secrets-provider", "secretsKmsAlias: alias/<new>`"]
    )
    assert order == sorted(order)


def test_operations_doc_no_longer_claims_the_workflows_pass_a_secrets_provider() -> None:
    ops = (ROOT / "docs" / "operations.md").read_text()
    assert "the same value as `secrets-provider`" not in ops
    assert "pulumi cancel --stack" in ops
    policy_doc = (ROOT / "docs" / "policy-pack.md").read_text()
    assert "The first run creates `policy/venv`" not in policy_doc
    assert "pulumi login s3://<state-bucket> " not in policy_doc
    assert "?region=" in policy_doc


def _code() -> tuple[list[str], list[str]]:
    """(lines of the README's bash blocks, its inline code spans)."""
    blocks = re.findall(r"```bash\n(.*?)```", README, re.S)
    lines = [ln.strip() for block in blocks for ln in block.splitlines() if ln.strip()]
    prose = re.sub(r"```.*?```", "", README, flags=re.S)
    return lines, re.findall(r"`([^`\n]+)`", prose)


def _blueprint_parser() -> Any:
    from blueprint import cli

    return cli._parser()


def _subcommands(parser: Any) -> dict[str, Any]:
    import argparse

    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def test_every_blueprint_command_the_readme_shows_parses() -> None:
    # Each command line in a bash block runs through the real CLI parser (an unknown subcommand or flag
    # raises UsageError); placeholders such as <stack> become a plain word.
    import shlex

    from blueprint.cli import UsageError

    lines, _ = _code()
    commands = [ln[ln.index("blueprint ") :] for ln in lines if re.match(r"^(\.venv/bin/)?blueprint ", ln)]
    assert len(commands) >= 8, commands
    for command in commands:
        words = shlex.split(re.sub(r"<[^>]*>", "X", command.split(" #", 1)[0]))[1:]
        try:
            _blueprint_parser().parse_args(words)
        except UsageError as exc:  # pragma: no cover - the failure message is the point
            raise AssertionError(f"README command does not parse: {command}: {exc}") from None


def test_every_blueprint_subcommand_the_readme_names_exists() -> None:
    lines, spans = _code()
    top = _subcommands(_blueprint_parser())
    named = re.findall(r"\bblueprint ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?", "\n".join(lines + spans))
    assert {"bootstrap", "preflight", "promote", "prices", "fork", "stack", "preview"} <= {n for n, _ in named}
    for name, sub in named:
        assert name in top, f"README names `blueprint {name}`, which does not exist"
        nested = [a for a in top[name]._actions if a.__class__.__name__ == "_SubParsersAction"]
        if nested and sub:
            assert sub in nested[0].choices, f"README names `blueprint {name} {sub}`, which does not exist"


def test_every_make_target_the_readme_names_exists() -> None:
    lines, spans = _code()
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([A-Za-z0-9_./$()-]+):", makefile, re.M))
    targets = {t.replace("$(VENV)", ".venv") for t in targets}
    named = {
        word
        for text in lines + spans
        for match in re.finditer(r"(?:^|\s)make((?: [A-Za-z0-9./_=-]+)+)", text)
        for word in match.group(1).split()
        if "=" not in word
    }
    assert {"preview", "test", "policy-venv", "snapshots", "docs"} <= named
    assert named <= targets, named - targets
