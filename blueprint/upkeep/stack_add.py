"""``blueprint stack add NAME --from STACK --tier dev|staging|prod --account ID --region REGION``.

Writes, from an existing stack:

1. ``stacks/Pulumi.NAME.yaml``: the source's file (comments kept) with the new tier, account and
   region, the region's AZ names (as many as the source uses), the source account's id replaced
   in every ARN, the source's deploy role replaced by the new stack's, every ``secure:`` value
   replaced by a placeholder (ciphertext of another stack cannot be decrypted by this one) and the
   source's secrets-provider keys dropped (``pulumi stack init`` writes new ones). NAT and endpoint
   settings, pools and models are the source's. In an account that already has a stack, the
   account-wide singletons (:data:`ACCOUNT_SINGLETONS`) are switched off; in a new account the
   state bucket name follows the stack.
2. ``policy/config/stacks/NAME.json``, only if the stack differs from its tier's
   ``policy/config/tiers/TIER.json``: the source's override when the tier is the same (account and
   registry rewritten), and the audit policies advisory in an account whose audit another stack owns.
   The stack's own registry and region need no entry (blueprint/preview/policy_config.py derives them).
3. Every workflow matrix over stacks that lists the source gets NAME; every job that runs in the
   source's GitHub Environment (the deploy job) is copied for NAME, with the jobs it needs outside
   the chain (its ``preflight-<stack>``), and inserted in the ``needs`` chain after the last stack of
   the same or a lower tier (dev < staging < prod): a prod-tier copy of prod deploys after prod. The README's ``**Order:**`` line follows the chain.
4. ``snapshots/NAME.json``, from an offline preview of the new stack (``--no-snapshot`` skips it).

Workflows are edited with ruamel.yaml's round-trip mode, which keeps comments and layout; a
workflow that would not round-trip byte for byte is refused rather than reformatted.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from blueprint.singletons import SINGLETONS
from blueprint.upkeep.regions import REGION, availability_zones

TIERS = ("dev", "staging", "prod")
STACK_NAME = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
_ACCOUNT = re.compile(r"^\d{12}$")
# `<project>-<stack>-artifacts-` is the artifact bucket's prefix, at most 37 characters (S3 bucket_prefix).
_PREFIX_BUDGET = 37 - len("--artifacts-")
# Config paths (under the project namespace) of resources one AWS account holds once: a second stack
# in the account must not create them again; and of those one account holds once per region (ECR's
# registry-level settings), with the key naming the owner. From blueprint/singletons.py, the preview's check.
ACCOUNT_SINGLETONS: tuple[tuple[str, str], ...] = tuple((s.section, s.key) for s in SINGLETONS if not s.regional)
REGION_SINGLETONS: tuple[tuple[str, str, str], ...] = tuple(
    (s.section, s.key, s.owned_by) for s in SINGLETONS if s.regional and s.owned_by
)
SECRET_PLACEHOLDER = "v1:placeholder-set-with-pulumi-config-set-secret"  # noqa: S105 - not a secret
_STACK_FILE_SECRETS_KEYS = ("secretsprovider", "encryptedkey", "encryptionsalt")
_NOT_RENAMED_IN_JOBS = ("uses", "run", "script")


class StackAddError(Exception):
    """A refusal: one line, exit 2 for bad input."""


@dataclass(frozen=True)
class Request:
    name: str
    source: str
    tier: str
    account: str
    region: str
    zones: tuple[str, ...] | None = None


@dataclass
class Source:
    """What the new stack is copied from."""

    namespace: str
    text: str
    environment: str
    account: str
    region: str
    zones: list[str]


@dataclass
class Output:
    """Files to write (path -> text) and notes for the user."""

    files: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- yaml
def _yaml() -> Any:
    from ruamel.yaml import YAML

    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096
    y.indent(mapping=2, sequence=4, offset=2)
    return y


def load_rt(text: str, what: str) -> Any:
    """Parse for a round-trip edit; refuse files ruamel would reformat."""
    y = _yaml()
    doc = y.load(text)
    if dump_rt(doc) != text:
        raise StackAddError(f"{what}: cannot be edited without reformatting it; add the stack to it by hand")
    return doc


def dump_rt(doc: Any) -> str:
    buf = io.StringIO()
    _yaml().dump(doc, buf)
    return buf.getvalue()


# --------------------------------------------------------------------------- validation
def validate(req: Request, root: Path, project: str) -> None:
    """Every input problem, as one line."""
    if not STACK_NAME.match(req.name):
        raise StackAddError(f"stack name {req.name!r}: lowercase letters, digits and single hyphens, from a letter")
    if len(project) + len(req.name) > _PREFIX_BUDGET:
        raise StackAddError(
            f"stack name {req.name!r}: at most {_PREFIX_BUDGET - len(project)} characters with project {project!r} "
            f"(the artifact bucket prefix `{project}-{req.name}-artifacts-` must fit in 37)"
        )
    if (root / "stacks" / f"Pulumi.{req.name}.yaml").exists():
        raise StackAddError(f"stacks/Pulumi.{req.name}.yaml already exists")
    if not (root / "stacks" / f"Pulumi.{req.source}.yaml").is_file():
        known = ", ".join(sorted(p.name[7:-5] for p in (root / "stacks").glob("Pulumi.*.yaml")))
        raise StackAddError(f"--from {req.source!r}: no such stack; known stacks: {known}")
    if not _ACCOUNT.match(req.account):
        raise StackAddError(f"--account {req.account!r}: an AWS account id is 12 digits")
    if not REGION.match(req.region):
        raise StackAddError(f"--region {req.region!r}: not an AWS region name such as eu-west-1")
    bad = [z for z in req.zones or () if not re.fullmatch(re.escape(req.region) + r"[a-z]", z)]
    if bad:
        raise StackAddError(f"--availability-zones {','.join(bad)}: not AZ names of {req.region}")


# --------------------------------------------------------------------------- the stack file
def read_source(root: Path, stack: str, declared: set[str]) -> Source:
    """The source stack's namespace, tier, account, region and AZs, read from its file."""
    import yaml

    text = (root / "stacks" / f"Pulumi.{stack}.yaml").read_text()
    config = (yaml.safe_load(text) or {}).get("config") or {}
    namespaces = {k.partition(":")[0] for k in config if k.partition(":")[2] in declared}
    if len(namespaces) != 1:
        raise StackAddError(f"stacks/Pulumi.{stack}.yaml: expected one project namespace, found {sorted(namespaces)}")
    (ns,) = namespaces

    def get(key: str) -> Any:
        return config.get(f"{ns}:{key}")

    zones = (get("network") or {}).get("availabilityZones") or []
    if not (get("environment") and get("accountId") and get("region") and zones):
        raise StackAddError(
            f"stacks/Pulumi.{stack}.yaml: needs environment, accountId, region and network.availabilityZones to copy"
        )
    return Source(ns, text, str(get("environment")), str(get("accountId")), str(get("region")), list(zones))


def _sub_words(text: str, table: dict[str, str]) -> str:
    """Replace whole tokens in one pass (longest first; replaced text is not rescanned)."""
    table = {k: v for k, v in table.items() if k != v}
    if not table:
        return text
    alts = "|".join(re.escape(k) for k in sorted(table, key=len, reverse=True))
    return re.sub(rf"(?<![A-Za-z0-9])(?:{alts})(?![A-Za-z0-9])", lambda m: table[m.group(0)], text)


def stack_file(
    req: Request,
    src: Source,
    zones: list[str],
    shared_account: bool,
    role: Callable[[str], str],
    audit_owner: str | None = None,
    registry_owner: str | None = None,
) -> str:
    """The new stack file's text. ``registry_owner``: the stack owning the registry settings of the new stack's
    account and region, if there is one."""
    table = dict(zip(src.zones, zones, strict=False))  # a pool's AZ subset follows its zones by position
    table[src.account] = req.account
    table[src.region] = req.region
    table[role(req.source)] = role(req.name)  # role names follow the stack name
    text = _sub_words(src.text, table)
    doc = load_rt(text, f"stacks/Pulumi.{req.source}.yaml")
    for key in _STACK_FILE_SECRETS_KEYS:
        doc.pop(key, None)
    config = doc["config"]
    ns = src.namespace
    config[f"{ns}:environment"] = req.tier
    config[f"{ns}:network"]["availabilityZones"][:] = zones  # in place: keeps the list's flow style
    for value in config.values():
        if isinstance(value, dict) and set(value) == {"secure"}:
            value["secure"] = SECRET_PLACEHOLDER
    _account_settings(config, ns, req, shared_account, audit_owner)
    _region_settings(config, ns, registry_owner)
    out = dump_rt(doc)
    left = sorted({z for z in src.zones if z not in zones and re.search(rf"(?<![\w-]){re.escape(z)}(?!\w)", out)})
    if left:
        raise StackAddError(f"stacks/Pulumi.{req.source}.yaml names {', '.join(left)} beyond the new stack's zones")
    header = (
        f"# {req.name}: copied from {req.source} by `blueprint stack add` (tier {req.tier}, account {req.account}, "
        f"{req.region}).\n# Review tags, cluster.adminRoleArns and sizes; set every `secure:` value with "
        f"`pulumi config set --secret KEY --stack {req.name}`.\n"
    )
    return header + out


def _audit_owner(root: Path, sources: dict[str, Source], account: str) -> str | None:
    """The stack in ``account`` that creates the account's audit resources (``audit.enabled`` not false)."""
    import yaml

    for stack, src in sources.items():
        if src.account != account:
            continue
        config = (yaml.safe_load(src.text) or {}).get("config") or {}
        if (config.get(f"{src.namespace}:audit") or {}).get("enabled", True) is not False:
            return stack
    return None


def _account_settings(config: Any, ns: str, req: Request, shared_account: bool, audit_owner: str | None) -> None:
    """A second stack in an account leaves the account-wide resources to the first; a new account needs its own bucket."""
    if shared_account:
        for section, key in ACCOUNT_SINGLETONS:
            # Set even where the source relies on the default (audit.enabled defaults to true).
            if isinstance(config.get(f"{ns}:{section}"), dict):
                config[f"{ns}:{section}"][key] = False
        audit = config.get(f"{ns}:audit")
        if isinstance(audit, dict):
            audit["ownedBy"] = audit_owner or audit.get("ownedBy") or req.source
        return
    delivery = config.get(f"{ns}:delivery") or {}
    bucket = delivery.get("stateBucket")
    if isinstance(bucket, str) and re.search(rf"[-.]{re.escape(req.source)}$", bucket):
        delivery["stateBucket"] = bucket[: -len(req.source)] + req.name


def _region_settings(config: Any, ns: str, owner: str | None) -> None:
    """Where a stack of the account and region owns the registry settings, the new one leaves them to it; where
    none does, the new stack owns them (whatever the source said: it may itself have been a non-owner)."""
    for section, key, owned_by in REGION_SINGLETONS:
        values = config.get(f"{ns}:{section}")
        if owner is None:
            if isinstance(values, dict):
                values.pop(key, None)
                values.pop(owned_by, None)
            continue
        if not isinstance(values, dict):
            config[f"{ns}:{section}"] = values = {}
        values[key] = False
        values[owned_by] = owner


def _registry_owner(root: Path, req: Request) -> str | None:
    """The stack that owns the registry settings of the request's account and region (blueprint/singletons.py)."""
    from blueprint.singletons import read_stacks

    registry = next(s for s in SINGLETONS if s.section == "registry")
    owners = [f for f in read_stacks(root).values() if f.group(registry) == (req.account, req.region)]
    return next((f.stack for f in owners if f.claims(registry)), None)


# --------------------------------------------------------------------------- policy config
def policy_config(root: Path, req: Request, src: Source, audit_owner: str | None = None) -> str | None:
    """``policy/config/stacks/<name>.json``, only when the new stack differs from its tier's file.

    The tier's file (``policy/config/tiers/<tier>.json``) applies as it is; the stack's own registry and
    region are derived by the merge (blueprint/preview/policy_config.py), so a new account or region needs no entry.
    The source's override is copied when the tier is the same (account and registry rewritten); a stack in
    an account whose audit resources another stack owns gets the audit policies advisory.
    """
    from blueprint.preview.policy_config import STACKS_DIR, TIERS_DIR, dump

    if not (root / TIERS_DIR / f"{req.tier}.json").is_file():
        raise StackAddError(f"{TIERS_DIR}/{req.tier}.json not found: tier {req.tier} has no policy config")
    doc: dict[str, Any] = {}
    own = root / STACKS_DIR / f"{req.source}.json"
    if src.environment == req.tier and own.is_file():
        registry = (
            f"{src.account}.dkr.ecr.{src.region}.amazonaws.com",
            f"{req.account}.dkr.ecr.{req.region}.amazonaws.com",
        )
        doc = _rewrite_policy(json.loads(own.read_text()), src, req, registry)
    if audit_owner:
        _audit_elsewhere(doc, root / TIERS_DIR / f"{req.tier}.json")
    return dump(doc) if doc else None


# The account's audit resources live in its owner stack's plan, which the pack never sees with this one.
_AUDIT_IN_OWNER = (
    "governance-cloudtrail-present",
    "governance-archive-object-lock",
    "governance-access-logging",
    "governance-data-events",
)


def _audit_elsewhere(doc: dict[str, Any], tier_file: Path) -> None:
    """Advisory, not off: the findings still say what this stack's plan lacks (the owner's trail must record
    this stack's artifact bucket: docs/governance.md). Only the level: the tier's settings still apply."""
    tier = json.loads(tier_file.read_text())
    for name in _AUDIT_IN_OWNER:
        if name in tier or name in doc:
            entry = doc.get(name)
            doc[name] = {**entry, "enforcementLevel": "advisory"} if isinstance(entry, dict) else "advisory"


def _rewrite_policy(v: Any, base: Source, req: Request, registry: tuple[str, str]) -> Any:
    if isinstance(v, dict):
        return {
            k: (
                req.tier
                if k == "environment" and sub == base.environment
                else _rewrite_policy(sub, base, req, registry)
            )
            for k, sub in v.items()
        }
    if isinstance(v, list):
        return [_rewrite_policy(x, base, req, registry) for x in v]
    if isinstance(v, str):
        return _sub_words(v.replace(*registry), {base.account: req.account})
    return v


# --------------------------------------------------------------------------- command
def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``stack add`` to the CLI."""
    stack = subparsers.add_parser("stack", help="manage stacks (stack add)")
    sub = stack.add_subparsers(dest="stack_command", required=True, parser_class=type(stack))
    p = sub.add_parser(
        "add",
        help="create a stack from an existing one: stack file, policy config, workflows, snapshot",
        description="Create stacks/Pulumi.NAME.yaml from --from STACK for another tier, account and region.",
    )
    p.add_argument("name", metavar="NAME", help="new stack name (qa, prod-eu, dev-alice)")
    p.add_argument("--from", dest="source", required=True, metavar="STACK", help="stack to copy")
    p.add_argument("--tier", required=True, choices=TIERS, help="deployment tier (the `environment` key)")
    p.add_argument("--account", required=True, metavar="ID", help="AWS account id (12 digits)")
    p.add_argument("--region", required=True, help="AWS region, e.g. eu-west-1")
    p.add_argument(
        "--availability-zones", metavar="AZ,AZ", help="AZ names (default: from a table, as many as the source uses)"
    )
    p.add_argument("--no-snapshot", action="store_true", help="do not write snapshots/NAME.json")
    p.add_argument("--dry-run", action="store_true", help="list the files it would write and write nothing")
    p.set_defaults(handler=run)


def plan(root: Path, req: Request) -> tuple[Output, list[str], list[str]]:
    """Everything ``stack add`` writes, without writing; and the deploy chain before and after."""
    import yaml

    project = yaml.safe_load((root / "Pulumi.yaml").read_text()) or {}
    validate(req, root, str(project.get("name", "")))
    declared = set((project.get("config") or {}).keys())
    stacks = sorted(p.name[7:-5] for p in (root / "stacks").glob("Pulumi.*.yaml"))
    sources = {s: read_source(root, s, declared) for s in stacks}
    src = sources[req.source]
    try:
        zones = list(req.zones) if req.zones else availability_zones(req.region, len(src.zones))
    except ValueError as exc:
        raise StackAddError(str(exc)) from None
    tiers = {s: sources[s].environment for s in stacks}
    shared = any(s.account == req.account for s in sources.values())
    owner = _audit_owner(root, sources, req.account) if shared else None
    out = Output()
    from infra.config import deploy_role_name

    registry_owner = _registry_owner(root, req)
    out.files[f"stacks/Pulumi.{req.name}.yaml"] = stack_file(
        req, src, zones, shared, deploy_role_name, owner, registry_owner
    )
    override = policy_config(root, req, src, owner)
    if override is not None:
        out.files[f"policy/config/stacks/{req.name}.json"] = override
    from blueprint.upkeep.stack_workflows import chain_of, readme_order, workflows

    before = chain_of(root, tiers)
    after = workflows(root, req, {**tiers, req.name: req.tier}, out)
    readme_order(root, before, after, out)
    if shared:
        out.notes.append(
            f"account {req.account} already has a stack: {', '.join(f'{a}.{b}' for a, b in ACCOUNT_SINGLETONS)} "
            "switched off (the account's other stack owns them)"
        )
    if registry_owner:
        out.notes.append(registry_owner_note(req.name, registry_owner, req.account, req.region))
    if owner:
        out.notes.append(
            f"audit: {owner} owns account {req.account}'s trail and archive; after {req.name}'s first `up`, add its "
            f"`artifactBucket` output to {owner}'s audit.additionalDataEventBuckets. "
            f"policy/config/stacks/{req.name}.json makes {', '.join(_AUDIT_IN_OWNER)} advisory"
        )
    out.notes.append(f"create the GitHub Environment `{req.name}` (required reviewers for the {req.tier} tier)")
    return out, before, after


def _snapshot(root: Path, name: str) -> int:
    """Preview the new stack offline and write its snapshot, with this tool's own code."""
    import blueprint

    code_root = Path(blueprint.__file__).resolve().parents[1]
    env = {**os.environ, "BLUEPRINT_PROJECT_DIR": str(root)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(code_root), env.get("PYTHONPATH")]))
    proc = subprocess.run(  # noqa: S603 - this interpreter, fixed argv
        [sys.executable, "-m", "blueprint.cli", "preview", name, "--write-snapshots", "--quiet"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    print(proc.stdout + proc.stderr, end="")
    return proc.returncode


def run(args: argparse.Namespace) -> int:
    """The ``stack add`` command."""
    from blueprint.stackfiles import project_root

    root = project_root()
    zones = tuple(z.strip() for z in args.availability_zones.split(",")) if args.availability_zones else None
    req = Request(args.name, args.source, args.tier, args.account, args.region, zones)
    try:
        out, _, chain = plan(root, req)
    except StackAddError as exc:
        print(f"stack add: {exc}", file=sys.stderr)
        return 2
    for rel in out.files:
        print(f"{'would write' if args.dry_run else 'wrote'} {rel}")
    if args.dry_run:
        return 0
    for rel, text in out.files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)  # policy/config/stacks/ may not exist yet
        (root / rel).write_text(text)
    if chain:
        print("deploy order: " + " → ".join(chain))
    for note in out.notes:
        print(f"note: {note}")
    if args.no_snapshot:
        return 0
    code = _snapshot(root, req.name)
    if code != 0:
        print(
            f"stack add: the files are written, but `blueprint preview {req.name}` failed (exit {code})",
            file=sys.stderr,
        )
        return 1
    return 0


# The outputs a stack exports for its node roles (infra/wiring/cloud.py, infra/wiring/in_cluster.py karpenter()).
NODE_ROLE_OUTPUTS = ("nodeRoleArn", "karpenterNodeRoleArn")


def registry_owner_note(name: str, registry_owner: str, account: str, region: str) -> str:
    """What to do after ``name``'s first up so its nodes, managed and Karpenter's, may fill the owner's caches."""
    managed, karpenter = NODE_ROLE_OUTPUTS
    return (
        f"registry: {registry_owner} owns the ECR registry settings of account {account} in {region} "
        f"(scanning configuration, registry policy, pull-through cache rules); {name} uses them. After "
        f"{name}'s first up, add its {managed} output, and its {karpenter} output when it runs Karpenter, to "
        f"{registry_owner}'s registry.pullThroughPrincipalArns so its nodes may fill the caches"
    )
