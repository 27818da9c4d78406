"""Helpers the GitHub workflows call, so stack facts live in the stack files and not in YAML.

``blueprint delivery env STACK [--preview-role-arn TEMPLATE]``
    Prints ``key=value`` lines for ``$GITHUB_OUTPUT``: the stack's account, region, the preview and deploy
    role ARNs (the names :mod:`components.deploy_identity` creates), and the backend URL derived from
    ``delivery.stateBucket``. ``TEMPLATE`` (the ``AWS_PREVIEW_ROLE_ARN`` repository variable) may be a
    literal ARN or contain ``{account}`` and ``{env}``, so one variable serves stacks in several accounts.
    Also: ``handed_over`` (``true`` once the stack file carries the ``secretsprovider``/``encryptedkey`` that
    ``pulumi stack init`` wrote, which CI needs to decrypt; workflows skip a stack that is not handed over),
    ``runner_label`` (the in-VPC runner's ``runs-on`` prefix) and ``lock_prefix`` (where the DIY backend
    keeps the stack's update locks).

``blueprint delivery stacks``
    Prints ``all=<JSON list>`` and ``ready=<JSON list>``: every stack file, and those handed over to CI. The
    preview and drift workflows build their credentialed matrices from ``ready`` in a GitHub-hosted job, so
    no job waits for the in-VPC runner of a stack whose cloud layer does not exist yet.

Exit codes: 0 success, 1 invalid stack config, 2 usage error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from blueprint.ops.bootstrap import login_url, secrets_provider_url
from infra.config import PROJECT, PlatformConfig, deploy_role_arn, parse_config, preview_role_name, runner_project_name


def stack_config(stack: str, root: Path | None = None) -> PlatformConfig:
    """The validated config of a committed stack (secure values replaced by placeholders)."""
    from blueprint.stackfiles import load_stack
    from infra.config import PROJECT, ConfigError, decode_flat

    settings = load_stack(stack, root)
    raw, problems = decode_flat(settings.config)
    if problems:
        raise ConfigError(settings.source, problems)
    secret = {k.partition(":")[2] for k in settings.secret_keys if k.startswith(PROJECT + ":")}
    return parse_config(raw, secret_keys=secret, source=settings.source, stack=stack)


def stack_env(stack: str, preview_role_template: str = "", root: Path | None = None) -> dict[str, str]:
    """What a workflow job needs to know about ``stack`` to authenticate and log in."""
    cfg = stack_config(stack, root)
    provider = secrets_fields(stack, root)
    env = cfg.stack  # role names and the GitHub Environment follow the stack, not the tier
    template = preview_role_template.strip() or f"arn:aws:iam::{{account}}:role/{preview_role_name('{env}')}"
    region = cfg.region
    return {
        "stack": stack,
        "environment": env,
        "account_id": cfg.account_id,
        "region": region,
        "preview_role_arn": template.replace("{account}", cfg.account_id).replace("{env}", env),
        "deploy_role_arn": deploy_role_arn(cfg.account_id, env),
        # The same URLs `blueprint bootstrap` prints for a human.
        "backend_url": login_url(cfg.delivery.state_bucket, region),
        "secrets_provider": provider.get("secretsprovider")
        or secrets_provider_url(cfg.delivery.secrets_kms_aliases[0], region),
        "handed_over": "true" if {"secretsprovider", "encryptedkey"} <= set(provider) else "false",
        "runner_label": f"codebuild-{runner_project_name(stack)}",
        # pkg/backend/diy/lock.go: <url>/.pulumi/locks/<organization/project/stack>/<lock id>.json
        "lock_prefix": f"s3://{cfg.delivery.state_bucket}/.pulumi/locks/organization/{PROJECT}/{stack}/",
    }


def stacks_facts(root: Path | None = None) -> dict[str, str]:
    """Every committed stack and the ones handed over to CI (``handed_over`` in :func:`stack_env`)."""
    import json

    from blueprint.stackfiles import stack_names

    names = stack_names(root)
    ready = [n for n in names if {"secretsprovider", "encryptedkey"} <= set(secrets_fields(n, root))]
    return {"all": json.dumps(names, separators=(",", ":")), "ready": json.dumps(ready, separators=(",", ":"))}


def secrets_fields(stack: str, root: Path | None = None) -> dict[str, str]:
    """The secrets-provider fields ``pulumi stack init --secrets-provider`` wrote into the stack file.

    The CLI takes the provider from the stack file (``secretsprovider`` + ``encryptedkey`` for cloud KMS,
    ``encryptionsalt`` for a passphrase; pkg/secrets/cloud/manager.go, pkg/cmd/pulumi/stack/secrets.go). With
    neither, a DIY backend falls back to the passphrase provider, so CI must not deploy such a stack.
    """
    import yaml

    from blueprint.stackfiles import project_root

    doc = yaml.safe_load(((root or project_root()) / "stacks" / f"Pulumi.{stack}.yaml").read_text()) or {}
    return {k: str(doc[k]) for k in ("secretsprovider", "encryptedkey", "encryptionsalt") if doc.get(k)}


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``delivery env STACK`` and ``delivery stacks`` to the CLI."""
    p = sub.add_parser("delivery", help="stack facts for the GitHub workflows, as key=value lines")
    dsub = p.add_subparsers(dest="delivery_command", required=True, parser_class=type(p))
    e = dsub.add_parser("env", help="print a stack's CI facts as key=value lines")
    e.add_argument("stack")
    e.add_argument("--preview-role-arn", default="", help="ARN or template with {account} and {env}")
    dsub.add_parser("stacks", help="print every stack and the stacks handed over to CI as JSON lists")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """The ``delivery`` command: print the facts, or the config error and exit 1."""
    from infra.config import ConfigError

    try:
        env = args.delivery_command == "env"
        facts = stack_env(args.stack, args.preview_role_arn) if env else stacks_facts()
        for key, value in facts.items():
            print(f"{key}={value}")
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    return 0
