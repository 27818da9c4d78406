"""The offline policy evaluator: the pack's policies run over a plan as the Pulumi CLI's analyzer would run them."""

from __future__ import annotations

from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from blueprint.preview.plan import RESOURCE_SIG, SECRET_SIG_KEY, UNKNOWN, Plan, Resource
from blueprint.preview.policy_eval import evaluate

BUCKET = "aws:s3/bucket:Bucket"


def _resource(name: str, inputs: dict[str, Any], *, parent: str = "", type_: str = BUCKET) -> Resource:
    return Resource(
        urn=f"urn:pulumi:s::p::{type_}::{name}",
        type=type_,
        name=name,
        parent=parent,
        custom=True,
        provider="",
        inputs=inputs,
        dependencies=[],
        property_dependencies={},
        protect=False,
        retain_on_delete=False,
        ignore_changes=[],
    )


def _plan(*resources: Resource) -> Plan:
    return Plan("s", "p", list(resources), {})


def _no_public_acl(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == BUCKET and args.props.get("acl") in args.get_config()["forbidden"]:
        report(f"{args.name} is public")


NO_PUBLIC = ResourceValidationPolicy(
    name="no-public-acl",
    description="buckets are private",
    validate=_no_public_acl,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=PolicyConfigSchema({"forbidden": {"type": "array", "default": ["public-read"]}}),
)
PLAN = _plan(_resource("open", {"acl": "public-read"}), _resource("closed", {"acl": "private"}))


def _run(plan: Plan, file: dict[str, Any], *policies: Any) -> dict[str, Any]:
    return evaluate(plan, list(policies) or [NO_PUBLIC], file, environment="test", pack_name="unit")


def test_a_violation_names_the_resource_and_counts_at_the_policy_level() -> None:
    report = _run(PLAN, {})
    assert (report["mandatory"], report["advisory"], report["policies"]) == (1, 0, 1)
    (v,) = report["violations"]
    assert v["policy"] == "no-public-acl"
    assert v["urn"] == PLAN.get(BUCKET, "open").urn
    assert v["message"] == "open is public"


def test_the_config_file_sets_the_level_and_the_settings_as_the_cli_does() -> None:
    assert _run(PLAN, {"no-public-acl": "advisory"})["advisory"] == 1
    assert _run(PLAN, {"all": "advisory"})["mandatory"] == 0
    disabled = _run(PLAN, {"no-public-acl": "disabled"})
    assert disabled["violations"] == []
    assert disabled["policies"] == 1
    # remediate cannot fix anything offline: it blocks like mandatory.
    assert _run(PLAN, {"no-public-acl": {"enforcementLevel": "remediate"}})["mandatory"] == 1
    # Settings override the schema defaults.
    private = _run(PLAN, {"no-public-acl": {"forbidden": ["private"]}})
    assert [v["message"] for v in private["violations"]] == ["closed is public"]


def test_an_unknown_value_gives_the_advisory_diagnostic_of_a_preview() -> None:
    report = _run(_plan(_resource("pending", {"acl": UNKNOWN})), {})
    (v,) = report["violations"]
    assert v["enforcement"] == "advisory"
    assert report["mandatory"] == 0
    assert v["message"].startswith("can't run policy 'no-public-acl' from policy pack 'unit' during preview")


def test_a_resource_reference_reaches_the_policy_as_its_id() -> None:
    seen: list[Any] = []
    ref = {SECRET_SIG_KEY: RESOURCE_SIG, "urn": "urn:pulumi:s::p::aws:kms/key:Key::k", "id": "key-1"}
    policy = ResourceValidationPolicy("ref", "d", lambda args, report: seen.append(args.props.get("kmsKeyId")))
    _run(_plan(_resource("b", {"kmsKeyId": ref})), {}, policy)
    assert seen == ["key-1"]


def test_a_stack_policy_sees_every_resource_with_its_parent() -> None:
    parents: dict[str, str | None] = {}

    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        for r in args.resources:
            parents[r.name] = r.parent.name if r.parent else None
        report("stack-wide")

    box = _resource("box", {}, type_="platform:index:Box")
    plan = _plan(box, _resource("child", {}, parent=box.urn))
    report = _run(plan, {"stack": "mandatory"}, StackValidationPolicy("stack", "d", validate))
    assert parents == {"box": None, "child": "box"}
    (v,) = report["violations"]
    assert (v["urn"], v["enforcement"]) == ("", "mandatory")
