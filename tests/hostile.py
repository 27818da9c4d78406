"""Hostile inputs for the stack-file loader and the config model, shared by the example tests and the fuzzers.

Credential-shaped strings are built from pieces at run time, so this file holds no literal that a secret
scanner would (rightly) flag.
"""

from __future__ import annotations

import os

from hypothesis import strategies as st

from tests.fixtures import PROJECT


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    """The "billion laughs": ``width ** levels`` leaves from a few kilobytes of anchors and aliases."""
    lines = ["config:", f"  {PROJECT}:l0: &l0 [" + ",".join(['"lol"'] * width) + "]"]
    for i in range(1, levels + 1):
        lines.append(f"  {PROJECT}:l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def duplicate_key() -> str:
    return (
        "config:\n"
        f"  {PROJECT}:protectStatefulResources: true\n"
        f"  {PROJECT}:region: us-west-2\n"
        f"  {PROJECT}:protectStatefulResources: false\n"
    )


def deep_nesting(depth: int = 5000, flow: bool = True) -> str:
    if flow:
        return f"config:\n  {PROJECT}:x: " + "[" * depth + "]" * depth + "\n"
    return f"config:\n  {PROJECT}:x: " + "{a: " * depth + "1" + "}" * depth + "\n"


def binary_junk(size: int = 4096, seed: int = 7) -> bytes:
    import random

    rng = random.Random(seed)
    return bytes(rng.randrange(256) for _ in range(size)) + os.urandom(0)


def credentials() -> dict[str, str]:
    """One value per well-known credential format."""
    return {
        "openai": "sk-" + "proj-" + "Ab3" * 12,
        "huggingface": "hf" + "_" + "Xy7" * 12,
        "github": "gh" + "p_" + "Q9z" * 13,
        "aws": "AK" + "IA" + "Z7Q3" * 4,
        "slack": "xo" + "xb-" + "1234567890-abcdefghij",
        "url": "https://user:" + "hunter2" + "@example.com/db",
    }


_CRED = st.sampled_from(sorted(credentials().values()))
_SECRET_FLAGS = st.sampled_from(["--api-key", "--hf-token", "--password", "--secret", "--access-key", "--apiKey"])


@st.composite
def secret_args(draw: st.DrawFn) -> tuple[list[str], str]:
    """A container arg list with a credential in it, and the credential."""
    plain = draw(st.lists(st.sampled_from(["--model", "/models/m", "--max-model-len", "8192", "-v"]), max_size=4))
    secret = draw(_CRED | st.text(alphabet="abcdefghijklmnop0123456789", min_size=8, max_size=24))
    flag = draw(_SECRET_FLAGS)
    form = draw(st.sampled_from(["pair", "inline", "bare"]))
    if form == "bare":
        secret = draw(_CRED)
        leak = [secret]
    else:
        leak = [flag, secret] if form == "pair" else [f"{flag}={secret}"]
    at = draw(st.integers(0, len(plain)))
    return [*plain[:at], *leak, *plain[at:]], secret


HOSTILE_TEXT = st.one_of(
    st.just("eu-west-9"),
    st.just("m9z.huge"),
    st.just("banana"),
    st.text(alphabet="\x00\u202e\u2066\u200f\ufeff\x1b", min_size=1, max_size=8),
    st.builds(lambda n: "x" * n, st.integers(4097, 300_000)),
    st.builds(lambda n: "https://example.com/" + "a" * n, st.integers(200_000, 200_100)),
    _CRED,
)
"""Strings the config must refuse or carry safely, wherever they are put."""


@st.composite
def hostile_stack_file(draw: st.DrawFn) -> bytes:
    """A stack file the loader must refuse with one line (or load), never crash or hang on."""
    kind = draw(st.sampled_from(["bomb", "dup", "deep", "binary", "mixed"]))
    if kind == "bomb":
        return alias_bomb(draw(st.integers(2, 12)), draw(st.integers(2, 12))).encode()
    if kind == "dup":
        return duplicate_key().encode()
    if kind == "deep":
        return deep_nesting(draw(st.integers(33, 3000)), draw(st.booleans())).encode()
    if kind == "binary":
        return draw(st.binary(min_size=1, max_size=2048))
    head = f"config:\n  {PROJECT}:x: ".encode()
    return head + draw(st.binary(max_size=512))
