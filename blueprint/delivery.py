"""Helpers the GitHub workflows call, so stack facts live in the stack files and not in YAML.

``python -m blueprint.delivery env STACK [--preview-role-arn TEMPLATE]``
    Prints ``key=value`` lines for ``$GITHUB_OUTPUT``: the stack's account, region, the preview and deploy
    role ARNs (the names :mod:`components.deploy_identity` creates), and the backend URL derived from
    ``delivery.stateBucket``. ``TEMPLATE`` (the ``AWS_PREVIEW_ROLE_ARN`` repository variable) may be a
    literal ARN or contain ``{account}`` and ``{env}``, so one variable serves stacks in several accounts.

``python -m blueprint.delivery pr-section STACK REPORT --exit-code N``
    Turns the text output of ``blueprint preview STACK --diff`` into one collapsible Markdown section of the
    PR comment. The text goes in a fenced block, so nothing in it renders as Markdown or mentions anyone.

Exit codes: 0 success, 1 invalid stack config, 2 usage error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from blueprint.ops.bootstrap import login_url, secrets_provider_url
from infra.config import PlatformConfig, deploy_role_arn, parse_config, preview_role_name

# A PR comment holds at most 65,536 characters; three stacks and the header must fit.
SECTION_LIMIT = 20_000
STATUS = {0: "passed", 1: "failed: mandatory policy violation, invalid config or program error"}


def stack_config(stack: str, root: Path | None = None) -> PlatformConfig:
    """The validated config of a committed stack (secure values replaced by placeholders)."""
    from blueprint.stackfiles import load_stack
    from infra.config import PROJECT, ConfigError, decode_flat

    settings = load_stack(stack, root)
    raw, problems = decode_flat(settings.config)
    if problems:
        raise ConfigError(settings.source, problems)
    secret = {k.partition(":")[2] for k in settings.secret_keys if k.startswith(PROJECT + ":")}
    return parse_config(raw, secret_keys=secret, source=settings.source)


def stack_env(stack: str, preview_role_template: str = "", root: Path | None = None) -> dict[str, str]:
    """What a workflow job needs to know about ``stack`` to authenticate and log in."""
    cfg = stack_config(stack, root)
    env = cfg.environment.value
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
        "secrets_provider": secrets_provider_url(cfg.delivery.secrets_kms_alias, region),
    }


def pr_section(stack: str, report: str, exit_code: int) -> str:
    """One stack's part of the offline-preview PR comment."""
    text = report.replace("```", "`\u200b``")  # cannot close the fence early
    if len(text) > SECTION_LIMIT:
        text = text[: SECTION_LIMIT - 200] + "\n… (truncated; the full report is in the job log)"
    status = STATUS.get(exit_code, f"failed (exit {exit_code})")
    mark = "✅" if exit_code == 0 else "❌"
    return f"<details{' open' if exit_code else ''}><summary>{mark} <b>{stack}</b>: {status}</summary>\n\n```text\n{text.rstrip()}\n```\n\n</details>\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m blueprint.delivery``."""
    from infra.config import ConfigError

    p = argparse.ArgumentParser(prog="python -m blueprint.delivery", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser("env", help="print a stack's CI facts as key=value lines")
    e.add_argument("stack")
    e.add_argument("--preview-role-arn", default="", help="ARN or template with {account} and {env}")
    s = sub.add_parser("pr-section", help="format a preview report as a PR comment section")
    s.add_argument("stack")
    s.add_argument("report", type=Path)
    s.add_argument("--exit-code", type=int, required=True)
    args = p.parse_args(argv)
    try:
        if args.command == "env":
            for key, value in stack_env(args.stack, args.preview_role_arn).items():
                print(f"{key}={value}")
        else:
            print(pr_section(args.stack, args.report.read_text(errors="replace"), args.exit_code), end="")
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
