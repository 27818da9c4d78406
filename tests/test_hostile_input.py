"""Hostile stack files and config values: refused quickly, with one clear message, never echoing a secret."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blueprint.cli import EXIT_ERROR, main
from blueprint.stackfiles import load_stack
from infra import input_rules
from infra.config import SECRET_KEYS, ConfigError, parse_config
from tests import fixtures as fx
from tests import hostile
from tests.conftest import ROOT, STACKS, plan_for, stack_raw
from tests.fixtures import PROJECT

RawFactory = Callable[[str], dict[str, Any]]
SECRETS = list(SECRET_KEYS)  # every secret key Pulumi.yaml declares (infra/config.py)


def _plain(raw: dict[str, Any]) -> dict[str, Any]:
    return {k: ("placeholder" if isinstance(v, dict) and set(v) == {"secure"} else v) for k, v in raw.items()}


def _error(raw: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(_plain(raw), secret_keys=SECRETS, source="stacks/Pulumi.test.yaml")
    return info.value


def _problems(raw: dict[str, Any]) -> dict[str, str]:
    return {p.path: p.message for p in _error(raw).problems}


def _model(raw: dict[str, Any]) -> dict[str, Any]:
    return next(iter(raw["serving"]["models"].values()))


def _model_path(raw: dict[str, Any]) -> str:
    return f"serving.models.{next(iter(raw['serving']['models']))}"


# --------------------------------------------------------------------------- stack files
def _stack_file(tmp_path: Path, content: bytes | str) -> Path:
    (tmp_path / "stacks").mkdir(exist_ok=True)
    (tmp_path / "Pulumi.yaml").write_bytes((ROOT / "Pulumi.yaml").read_bytes())
    data = content.encode() if isinstance(content, str) else content
    (tmp_path / "stacks" / "Pulumi.bad.yaml").write_bytes(data)
    return tmp_path


def _one_line_error(root: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_stack("bad", root)
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith("stacks/Pulumi.bad.yaml: ")
    return text


def test_alias_bomb_is_refused_in_under_a_second_and_200_mb(tmp_path: Path) -> None:
    root = _stack_file(tmp_path, hostile.alias_bomb())
    assert (root / "stacks" / "Pulumi.bad.yaml").stat().st_size < 4096
    # In a fresh process, so the numbers are the loader's: wall time and peak RSS growth.
    probe = textwrap.dedent(
        f"""
        import resource, time
        from blueprint.stackfiles import load_stack
        from infra.config import ConfigError
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t = time.perf_counter()
        try:
            load_stack("bad", __import__("pathlib").Path({str(root)!r}))
        except ConfigError as e:
            msg = str(e)
        print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before, msg, sep="|")
        """
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=ROOT)
    seconds, grown_kib, msg = out.stdout.strip().split("|", 2)
    assert float(seconds) < 1.0
    assert int(grown_kib) < 200 * 1024
    assert "alias *l0 is not allowed" in msg


def test_duplicate_key_names_the_key_and_both_lines(tmp_path: Path) -> None:
    text = _one_line_error(_stack_file(tmp_path, hostile.duplicate_key()))
    assert f"duplicate key '{PROJECT}:protectStatefulResources' at lines 2 and 4" in text


def test_nested_duplicate_keys_are_refused_too(tmp_path: Path) -> None:
    text = _one_line_error(_stack_file(tmp_path, f"config:\n  {PROJECT}:tags:\n    owner: a\n    owner: b\n"))
    assert "duplicate key 'owner' at lines 3 and 4" in text


def test_binary_junk_is_one_line_naming_the_file(tmp_path: Path) -> None:
    assert "is not UTF-8 text" in _one_line_error(_stack_file(tmp_path, hostile.binary_junk()))


@pytest.mark.parametrize("flow", [True, False])
def test_deep_nesting_is_one_line_naming_the_file(tmp_path: Path, flow: bool) -> None:
    assert "nested deeper than" in _one_line_error(_stack_file(tmp_path, hostile.deep_nesting(flow=flow)))


def test_oversized_file_is_refused_unread(tmp_path: Path) -> None:
    big = f"config:\n  {PROJECT}:x: '" + "a" * (input_rules.MAX_STRING * 300) + "'\n"
    assert "a stack file may be at most" in _one_line_error(_stack_file(tmp_path, big))


def test_control_characters_in_yaml_are_one_line(tmp_path: Path) -> None:
    assert "is not valid YAML" in _one_line_error(_stack_file(tmp_path, f"config:\n  {PROJECT}:x: a\x00b\n"))


@pytest.mark.parametrize(
    "content", [hostile.alias_bomb(), hostile.duplicate_key(), hostile.binary_junk(), hostile.deep_nesting()]
)
def test_cli_reports_a_bad_stack_file_in_one_line_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], content: str | bytes
) -> None:
    root = _stack_file(tmp_path, content)
    monkeypatch.setenv("BLUEPRINT_PROJECT_DIR", str(root))
    assert main(["preview", "bad", "--no-policy", "-q"]) == EXIT_ERROR
    err = capsys.readouterr().err.strip()
    assert err.startswith("stacks/Pulumi.bad.yaml: ")
    assert "\n" not in err
    assert "Traceback" not in err


def test_committed_stack_files_still_load() -> None:
    for stack in STACKS:
        assert load_stack(stack, ROOT).config


# --------------------------------------------------------------------------- credentials in values
CREDS = hostile.credentials()


@pytest.mark.parametrize("kind", sorted(CREDS))
@pytest.mark.parametrize("form", ["pair", "inline", "bare"])
def test_credentials_in_container_args_are_refused_without_echo(raw_config: RawFactory, kind: str, form: str) -> None:
    raw = raw_config(fx.DEV)
    secret = CREDS[kind]
    leak = {"pair": ["--api-key", secret], "inline": [f"--hf-token={secret}"], "bare": [secret]}[form]
    _model(raw)["args"] = ["--model", "/models/m", *leak]
    err = _error(raw)
    index = 3 if form == "pair" else 2
    msg = _problems(raw)[f"{_model_path(raw)}.args[{index}]"]
    assert "Kubernetes Secret" in msg
    assert "secure:" in msg
    assert secret not in str(err)
    assert secret[4:20] not in str(err)


def test_credential_in_env_style_pairs_and_nested_lists(raw_config: RawFactory) -> None:
    raw = raw_config(fx.DEV)
    _model(raw)["args"] = ["--model", "/m", "--extra", json.dumps({"k": 1})]
    raw["tags"]["note"] = "x"
    nested = {"env": [{"name": "HF_TOKEN", "value": "abcdefghijkl1234"}], "list": [["--password", "s3cretpass"]]}
    raw["serving"]["models"]["llama-3-8b"].setdefault("source", {})
    raw["ciRunners"]["extra"] = nested  # an unknown key still gets scanned, and reported as unknown
    found = _problems(raw)
    assert "is the value of HF_TOKEN" in found["ciRunners.extra.env[0].value"]
    assert "is the value of --password" in found["ciRunners.extra.list[0][1]"]


@pytest.mark.parametrize(
    "args",
    [
        ["--max-num-batched-tokens", "8192"],
        ["--api-key-file", "/run/secrets/api-key"],
        ["--hf-token", "$(HF_TOKEN)"],
        ["--tokenizer", "meta-llama/Llama-3-8B"],
        ["--password-env", "DB_PASSWORD"],
        ["--api-key"],
        ["--api-key", "--port", "8000"],
    ],
)
def test_references_and_lookalikes_are_accepted(raw_config: RawFactory, args: list[str]) -> None:
    raw = raw_config(fx.DEV)
    _model(raw)["args"] = ["--model", "/models/m", *args]
    parse_config(_plain(raw), secret_keys=SECRETS, source="stacks/Pulumi.test.yaml")


def test_secret_patterns_are_the_same_in_the_config_and_the_policy_pack() -> None:
    from ai_platform_policies import secrets

    assert secrets.CREDENTIAL_PATTERNS == input_rules.CREDENTIAL_PATTERNS
    for name in ("--hf-token", "API_KEY", "dbPassword", "--max-tokens", "--token-file", "--tokenizer"):
        assert secrets.secretish_name(name) == input_rules.secretish_name(name), name


# --------------------------------------------------------------------------- sizes, tags, labels
def test_unbounded_strings_are_refused_with_their_length_only(raw_config: RawFactory) -> None:
    raw = raw_config(fx.DEV)
    raw["ciRunners"]["githubConfigUrl"] = "https://github.com/" + "a" * 200_000
    _model(raw)["args"] = ["--model", "x" * 1_000_000]
    err = _error(raw)
    found = {p.path: p.message for p in err.problems}
    assert found["ciRunners.githubConfigUrl"].startswith("is 200019 characters long; at most 4096")
    assert found[f"{_model_path(raw)}.args[1]"].startswith("is 1000000 characters long")
    assert len(str(err)) < 5000


def test_too_many_tags_are_refused(raw_config: RawFactory) -> None:
    raw = raw_config(fx.DEV)
    limit = input_rules.MAX_TAGS - input_rules.PLATFORM_TAG_HEADROOM
    raw["tags"].update({f"t{i}": "v" for i in range(limit)})
    assert f"at most {limit} can be configured" in _problems(raw)["tags"]


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("team\x00", "a", "tag key contains U+0000"),
        ("team", "a\u202eb", "tag value contains U+202E"),
        ("team", "a\u2066b", "tag value contains U+2066"),
        ("aws:team", "a", "reserved by AWS"),
        ("k" * 129, "a", "AWS allows at most 128"),
        ("team", "v" * 257, "AWS allows at most 256"),
        ("team", "a;b", "tag value contains U+003B"),
    ],
)
def test_tag_characters_and_lengths_follow_aws(raw_config: RawFactory, key: str, value: str, fragment: str) -> None:
    raw = raw_config(fx.DEV)
    raw["tags"][key] = value
    text = str(_error(raw))
    assert fragment in text
    assert "\u202e" not in text
    assert "\x00" not in text


def test_real_tags_are_accepted(raw_config: RawFactory) -> None:
    raw = raw_config(fx.DEV)
    raw["tags"].update({"team:ml/platform": "Åsa Øvergård", "cost+center": "a=b@c.d_e-f", "empty": ""})
    parse_config(_plain(raw), secret_keys=SECRETS, source="stacks/Pulumi.test.yaml")


@pytest.mark.parametrize(
    ("key", "value"),
    [("bad key", "v"), ("-x", "v"), ("a" * 64, "v"), ("Example.COM/x", "v"), ("ok", "has space"), ("ok", "v" * 64)],
)
def test_node_labels_follow_kubernetes_syntax(raw_config: RawFactory, key: str, value: str) -> None:
    raw = raw_config(fx.DEV)
    pool = next(iter(raw["nodePools"]))
    raw["nodePools"][pool]["labels"] = {key: value}
    found = _problems(raw)
    assert any(p.startswith(f"nodePools.{pool}.labels.") and "Kubernetes label" in m for p, m in found.items())


def test_platform_adds_at_most_its_tag_headroom(raw_config: RawFactory) -> None:
    for stack in STACKS:
        configured = len(stack_raw(stack)["tags"])
        for r in plan_for(stack).resources:
            tags = r.inputs.get("tags")
            if isinstance(tags, dict):
                assert len(tags) - configured <= input_rules.PLATFORM_TAG_HEADROOM, r.name


# --------------------------------------------------------------------------- regions and instance types
def test_unknown_region_is_refused_with_the_known_ones(raw_config: RawFactory) -> None:
    raw = raw_config(fx.DEV)
    raw["region"] = "eu-west-9"
    msg = _problems(raw)["region"]
    assert "eu-west-1" in msg
    assert "us-west-2" in msg


@pytest.mark.parametrize("bad", ["m9z.huge", "banana", "m6i.huge", "m6i.", ".large"])
def test_unknown_instance_types_are_refused_with_the_known_values(raw_config: RawFactory, bad: str) -> None:
    raw = raw_config(fx.DEV)
    pool = next(iter(raw["nodePools"]))
    raw["nodePools"][pool]["instanceTypes"] = [bad]
    msg = _problems(raw)[f"nodePools.{pool}.instanceTypes"]
    assert any(s in msg for s in ("m6i", "<family>.<size>", "xlarge"))


@pytest.mark.parametrize(
    "real",
    ["m6i.large", "m7i-flex.2xlarge", "c7gn.16xlarge", "r7iz.metal-32xl", "t3.micro", "m5zn.metal", "x2iedn.32xlarge"],
)
def test_real_instance_types_are_accepted(real: str) -> None:
    assert input_rules.instance_type_problem(real) is None


def test_every_region_and_type_in_the_committed_stacks_is_known() -> None:
    for stack in STACKS:
        raw = stack_raw(stack)
        assert raw["region"] in input_rules.AWS_REGIONS
        pools = [*raw["nodePools"].values(), raw.get("nodePoolDefaults") or {}]
        for t in (t for p in pools for t in p.get("instanceTypes") or []):
            assert input_rules.instance_type_problem(t) is None, t


# --------------------------------------------------------------------------- fuzzing
_BASE: dict[str, Any] = {}


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(_paths(v, (*prefix, i)))
    return out


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), text=hostile.HOSTILE_TEXT, leak=hostile.secret_args())
def test_fuzz_hostile_values_are_reported_never_echoed(
    data: st.DataObject, text: str, leak: tuple[list[str], str]
) -> None:
    if not _BASE:
        _BASE.update(_plain(stack_raw(fx.DEV)))
    raw = copy.deepcopy(_BASE)
    args, secret = leak
    _model(raw)["args"] = args
    args_path = ("serving", "models", next(iter(raw["serving"]["models"])), "args")
    # Anywhere but the leaked args and their ancestors, so the credential stays there to be found.
    candidates = [p for p in _paths(raw) if p[0] not in SECRETS and args_path[: len(p)] != p[: len(args_path)]]
    path = data.draw(st.sampled_from(candidates))
    parent: Any = raw
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = text
    with pytest.raises(ConfigError) as info:  # the credential in args is always there to find
        parse_config(raw, secret_keys=SECRETS, source="stacks/Pulumi.test.yaml")
    shown = str(info.value)
    assert secret not in shown
    assert "\u202e" not in shown
    assert "\x00" not in shown
    assert len(shown) < 20_000


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=hostile.hostile_stack_file())
def test_fuzz_hostile_stack_files_load_or_fail_in_one_line(tmp_path: Path, content: bytes) -> None:
    root = _stack_file(tmp_path, content)
    try:
        load_stack("bad", root)
    except ConfigError as err:
        text = str(err)
        assert text.startswith("stacks/Pulumi.bad.yaml: ")
        if any(p.path == "(file)" for p in err.problems):
            assert "\n" not in text


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("aws:secretKey", "wJalrXUtnFEMIK7MDENGbPxRfiCYzEXAMPLEKEY", "named like a credential"),
        ("aws:accessKey", hostile.credentials()["aws"], "an AWS access key ID"),
        ("kubernetes:kubeconfig", "token: " + hostile.credentials()["github"], "a GitHub token"),
    ],
)
def test_credentials_under_other_namespaces_are_refused(tmp_path: Path, key: str, value: str, fragment: str) -> None:
    text = (ROOT / "stacks" / "Pulumi.dev.yaml").read_text().replace("config:\n", f"config:\n  {key}: '{value}'\n", 1)
    root = _stack_file(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_stack("bad", root)
    shown = str(info.value)
    assert f"- {key}: " in shown
    assert fragment in shown
    assert value not in shown


def test_secure_values_under_other_namespaces_are_fine(tmp_path: Path) -> None:
    text = (ROOT / "stacks" / "Pulumi.dev.yaml").read_text()
    text = text.replace("config:\n", "config:\n  aws:secretKey:\n    secure: v1:abc\n  aws:profile: ops\n", 1)
    assert "aws:secretKey" in load_stack("bad", _stack_file(tmp_path, text)).secret_keys
