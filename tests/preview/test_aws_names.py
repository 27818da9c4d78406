"""The engine and the policy pack name AWS resources from the same table (the pack keeps its own copy)."""

from __future__ import annotations

from ai_platform_policies import tagging
from blueprint.preview import aws_names
from blueprint.preview.engine import PlatformMocks
from tests.fixtures import STACKS, account, region


def _mock(typ: str, logical: str, /, **inputs: object) -> tuple[str | None, dict[str, object]]:
    import pulumi

    mocks = PlatformMocks(region(STACKS[0]), account(STACKS[0]), STACKS[0])
    args = pulumi.runtime.MockResourceArgs(typ=typ, name=logical, inputs=inputs, provider=None, resource_id=None)
    return mocks.new_resource(args)


def test_engine_and_pack_share_the_physical_name_table() -> None:
    # The pack's stack-unique-physical-names check and the engine's auto-naming must agree on which input
    # names each type: a type only one of them knows is either never checked or never auto-named offline.
    assert dict(aws_names.NAME_KEYS) == dict(tagging.NAME_KEYS)


def test_every_named_type_is_auto_named_when_its_name_input_is_unset() -> None:
    for typ, key in aws_names.NAME_KEYS.items():
        _, out = _mock(typ, "thing")
        auto = out[key]
        assert isinstance(auto, str)
        assert auto.startswith("thing-"), (typ, auto)
        assert _mock(typ, "thing")[1][key] == auto, f"{typ}: auto-name is not deterministic"
        assert _mock(typ, "other")[1][key] != auto, f"{typ}: two resources got one auto-name"


def test_a_given_name_or_prefix_is_kept() -> None:
    for typ, key in aws_names.NAME_KEYS.items():
        assert _mock(typ, "thing", **{key: "chosen"})[1][key] == "chosen"
        prefixed = _mock(typ, "thing", **{f"{key}Prefix": "team-"})[1][key]
        assert isinstance(prefixed, str)
        assert prefixed.startswith("team-")


def test_generated_ids_carry_the_aws_prefix() -> None:
    for typ, prefix in aws_names.ID_PREFIX.items():
        rid, out = _mock(typ, "thing")
        assert rid == out["id"]
        assert str(rid).startswith(f"{prefix}-"), (typ, rid)


def test_an_sqs_queue_reports_the_arn_and_url_aws_gives_it() -> None:
    # arn:aws:sqs:<region>:<account>:<name> (no resource-type segment) and https://sqs.<region>.amazonaws.com/<account>/<name>.
    stack = STACKS[0]
    _, out = _mock("aws:sqs/queue:Queue", "interruption", name="queue-1")
    assert out["arn"] == f"arn:aws:sqs:{region(stack)}:{account(stack)}:queue-1"
    assert out["url"] == f"https://sqs.{region(stack)}.amazonaws.com/{account(stack)}/queue-1"
