"""Rules for hostile or mistaken input anywhere in a stack's config.

- plaintext credentials in any value, list items included (``args: [--api-key, sk-…]``, ``--hf-token=…``,
  well-known key formats), reported by key path and never echoed;
- unbounded strings and keys;
- AWS tag and Kubernetes label syntax;
- real AWS regions and EC2 instance families (a typo such as ``eu-west-9`` or ``m9z.huge`` fails here,
  not an hour into ``pulumi up``).

Each check returns ``(path, message)`` pairs; :mod:`infra.config` turns them into problems.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterator, Mapping
from typing import Any

Finding = tuple[str, str]

# --------------------------------------------------------------------------- credentials
# Well-known credential formats (the providers' documented prefixes). The policy pack keeps the same
# table (policy/ai_platform_policies/secrets.py); tests/test_hostile_input.py checks they agree.
CREDENTIAL_PATTERNS: tuple[tuple[str, str], ...] = (
    ("an OpenAI/Anthropic-style API key (sk-…)", r"(?<![A-Za-z0-9])sk-[A-Za-z0-9_-]{20,}"),
    ("a Hugging Face token (hf_…)", r"(?<![A-Za-z0-9])hf_[A-Za-z0-9]{30,}"),
    ("a GitHub token (ghp_/gho_/ghu_/ghs_/ghr_…)", r"(?<![A-Za-z0-9])gh[pousr]_[A-Za-z0-9]{30,}"),
    ("a GitHub fine-grained token (github_pat_…)", r"github_pat_[A-Za-z0-9_]{22,}"),
    ("an AWS access key ID (AKIA…/ASIA…)", r"(?<![A-Z0-9])(AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])"),
    ("a Slack token (xox…)", r"(?<![A-Za-z0-9])xox[abprs]-[A-Za-z0-9-]{10,}"),
    ("a Slack webhook URL", r"hooks\.slack\.com/services/[A-Za-z0-9/]{20,}"),
    ("a Google API key (AIza…)", r"AIza[0-9A-Za-z_-]{35}"),
    ("a PEM private key", r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    (
        "a URL with a password (scheme://user:password@host)",
        r"[a-z][a-z0-9+.-]{0,20}://[^/\s:@]{1,256}:[^/\s@]{1,256}@",
    ),
)
_CREDENTIALS = [(what, re.compile(rx)) for what, rx in CREDENTIAL_PATTERNS]

# Words that make a flag or variable name a credential (whole words of the name split on -, _ and case).
_SECRET_WORDS = {"password", "passwd", "secret", "token", "apikey", "credential", "credentials"}
_SECRET_PAIRS = {("api", "key"), ("access", "key"), ("private", "key"), ("secret", "key"), ("hf", "token")}
# ... unless the name says the value is where the secret is, not the secret.
_REFERENCE_WORDS = {"file", "path", "dir", "env", "name", "ref", "arn", "alias", "id", "url", "length", "len"}
_REFERENCE_VALUE = re.compile(r"^(\$\(|\$\{|\$[A-Z_]|/|\./|~/|file:|arn:|secret:|valueFrom)")


def safe_key(key: Any, limit: int = 64) -> str:
    """A key for a message: control and format characters (NUL, bidi overrides) escaped, length bounded."""
    text = str(key)[:limit]
    return "".join(c if unicodedata.category(c)[0] not in "CZ" or c == " " else f"\\u{ord(c):04x}" for c in text)


def _words(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name.lstrip("-"))
    return [w for w in re.split(r"[\s_.\-]+", spaced.lower()) if w]


def secretish_name(name: str) -> bool:
    """Whether a flag or variable name (``--hf-token``, ``HF_TOKEN``, ``apiKey``) names a credential."""
    words = _words(name)
    if not words or words[-1] in _REFERENCE_WORDS:
        return False
    pairs = set(itertools.pairwise(words))
    return bool(_SECRET_WORDS & set(words) or _SECRET_PAIRS & pairs)


def credential_kind(value: str) -> str | None:
    """What well-known credential ``value`` contains, if any (strings past MAX_STRING are refused unread)."""
    if len(value) > MAX_STRING:
        return None
    for what, rx in _CREDENTIALS:
        if rx.search(value):
            return what
    return None


def redact(text: str, limit: int = 2000) -> str:
    """``text`` for a message: credentials replaced, control characters escaped, length bounded."""
    for _, rx in _CREDENTIALS:
        text = rx.sub("<redacted>", text[: limit * 4])
    text = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text[: limit * 2])
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _literal(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip()) and not _REFERENCE_VALUE.match(value.strip())


def _flag_findings(items: list[Any], path: str) -> Iterator[Finding]:
    for i, item in enumerate(items):
        if not isinstance(item, str) or not item.startswith("-"):
            continue
        flag, eq, inline = item.partition("=")
        if not secretish_name(flag):
            continue
        if eq and _literal(inline):
            yield f"{path}[{i}]", f"passes a credential inline ({flag}=…)"
        elif not eq and i + 1 < len(items) and _literal(items[i + 1]) and not str(items[i + 1]).startswith("-"):
            yield f"{path}[{i + 1}]", f"is the value of {flag}, a credential"


def credential_findings(value: Any, path: str) -> Iterator[Finding]:
    """Every place in ``value`` that holds a plaintext credential: key formats anywhere, values of
    credential-named flags in lists, and ``{name: <credential name>, value: …}`` pairs."""
    if isinstance(value, str):
        kind = credential_kind(value)
        if kind:
            yield path, f"contains {kind}"
    elif isinstance(value, list):
        flagged = dict(_flag_findings(value, path))
        yield from flagged.items()
        for i, item in enumerate(value):
            if f"{path}[{i}]" not in flagged:
                yield from credential_findings(item, f"{path}[{i}]")
    elif isinstance(value, Mapping):
        name = value.get("name")
        if isinstance(name, str) and secretish_name(name) and _literal(value.get("value")):
            yield f"{path}.value", f"is the value of {name}, a credential"
            return
        for k, sub in value.items():
            yield from credential_findings(sub, f"{path}.{safe_key(k, MAX_KEY)}")


CREDENTIAL_ADVICE = (
    "never put credentials in plain config (they reach the plan, the state and CI logs): use a `secure:` value "
    "(`pulumi config set --secret`) or reference a Kubernetes Secret (env valueFrom.secretKeyRef / a mounted file)"
)


def foreign_credential_findings(key: str, value: Any) -> list[Finding]:
    """Plaintext credentials under another namespace (``aws:secretKey``, a provider token): the program
    ignores those keys, but the CLI hands them to providers and the stack file is in git."""
    found = dict(credential_findings(value, key))
    if not found and isinstance(value, str) and _literal(value) and secretish_name(key.partition(":")[2]):
        found[key] = "is named like a credential and holds a plain value"
    return [(path, f"{msg}; {CREDENTIAL_ADVICE}") for path, msg in found.items()]


# --------------------------------------------------------------------------- sizes
MAX_STRING = 4096
"""Longest string value a stack file may hold (a model argument or URL is far shorter)."""
MAX_KEY = 256
"""Longest mapping key."""


def size_findings(value: Any, path: str) -> Iterator[Finding]:
    if isinstance(value, str):
        if len(value) > MAX_STRING:
            yield path, f"is {len(value)} characters long; at most {MAX_STRING} are allowed"
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from size_findings(item, f"{path}[{i}]")
    elif isinstance(value, Mapping):
        for k, sub in value.items():
            if len(str(k)) > MAX_KEY:
                yield (
                    f"{path}.{safe_key(k, 40)}…",
                    f"key is {len(str(k))} characters long; at most {MAX_KEY} are allowed",
                )
                continue
            yield from size_findings(sub, f"{path}.{safe_key(k, MAX_KEY)}")


# --------------------------------------------------------------------------- AWS tags
MAX_TAGS = 50
"""AWS: at most 50 user tags per resource."""
PLATFORM_TAG_HEADROOM = 8
"""Tags the platform adds to a resource on top of the configured ones (project, environment, managed-by, Name,
kubernetes.io/* on subnets, …); tests/test_hostile_input.py checks the plans stay within it."""
_TAG_PUNCT = set("_.:/=+-@ ")


def _aws_tag_text_problem(text: str, limit: int, what: str) -> str | None:
    if len(text) > limit:
        return f"{what} is {len(text)} characters long; AWS allows at most {limit}"
    bad = [c for c in text if not (c.isalnum() or c in _TAG_PUNCT or unicodedata.category(c) == "Zs")]
    if bad:
        shown = ", ".join(sorted({f"U+{ord(c):04X}" for c in bad})[:5])
        return f"{what} contains {shown}; AWS allows letters, digits, spaces and _ . : / = + - @ only"
    return None


def aws_tag_findings(tags: Mapping[str, Any], path: str) -> Iterator[Finding]:
    limit = MAX_TAGS - PLATFORM_TAG_HEADROOM
    if len(tags) > limit:
        yield (
            path,
            (
                f"has {len(tags)} tags; AWS allows {MAX_TAGS} per resource and the platform adds up to "
                f"{PLATFORM_TAG_HEADROOM}, so at most {limit} can be configured"
            ),
        )
    for key, value in tags.items():
        k = str(key)
        where = f"{path}.{safe_key(k)}"
        if not k:
            yield where, "tag key is empty"
        elif k.lower().startswith("aws:"):
            yield where, "tag keys starting with aws: are reserved by AWS"
        for msg in (_aws_tag_text_problem(k, 128, "tag key"), _aws_tag_text_problem(str(value), 256, "tag value")):
            if msg:
                yield where, msg


# --------------------------------------------------------------------------- Kubernetes labels
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")


def k8s_label_findings(labels: Mapping[str, Any], path: str) -> Iterator[Finding]:
    """Kubernetes label syntax (apimachinery validation: IsQualifiedName / IsValidLabelValue)."""
    for key, value in labels.items():
        k, v = str(key), "" if value is None else str(value)
        where = f"{path}.{safe_key(k)}"
        prefix, slash, name = k.rpartition("/")
        if not _LABEL_NAME.match(name) or (slash and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix))):
            yield (
                where,
                (
                    "not a Kubernetes label key: [prefix/]name, name at most 63 characters of letters, digits, - _ . "
                    "starting and ending alphanumeric, prefix a lowercase DNS subdomain"
                ),
            )
        if v and not _LABEL_NAME.match(v):
            yield (
                where,
                (
                    "not a Kubernetes label value: at most 63 characters of letters, digits, - _ . "
                    "starting and ending alphanumeric"
                ),
            )


# --------------------------------------------------------------------------- regions and instance types
# Commercial regions (partition `aws`: the program builds arn:aws:… ARNs), from the AWS Regions and Zones
# reference (https://docs.aws.amazon.com/global-infrastructure/latest/regions/aws-regions.html).
AWS_REGIONS: tuple[str, ...] = (
    "af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
    "ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4",
    "ap-southeast-5", "ap-southeast-6", "ap-southeast-7", "ca-central-1", "ca-west-1", "eu-central-1",
    "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-2", "eu-west-3",
    "il-central-1", "me-central-1", "me-south-1", "mx-central-1", "sa-east-1", "us-east-1", "us-east-2",
    "us-west-1", "us-west-2",
)  # fmt: skip

# EC2 instance families (https://docs.aws.amazon.com/ec2/latest/instancetypes/instance-type-names.html).
# Generous on purpose: rejecting a real family is worse than accepting a retired one.
EC2_INSTANCE_FAMILIES: frozenset[str] = frozenset(
    """
    a1 c1 c3 c4 c5 c5a c5ad c5d c5n c6a c6g c6gd c6gn c6i c6id c6in c7a c7g c7gd c7gn c7i c7i-flex c8a c8g
    c8gd c8gn c8i c8i-flex d2 d3 d3en dl1 dl2q f1 f2 g3 g3s g4ad g4dn g5 g5g g6 g6e g6f gr6 gr6f g7e h1 hpc6a
    hpc6id hpc7a hpc7g hpc8a i2 i3 i3en i4g i4i i7i i7ie i8g i8ge im4gn inf1 inf2 is4gen m1 m2 m3 m4 m5 m5a
    m5ad m5d m5dn m5n m5zn m6a m6g m6gd m6i m6id m6idn m6in m7a m7g m7gd m7i m7i-flex m8a m8g m8gd m8i
    m8i-flex mac1 mac2 mac2-m1ultra mac2-m2 mac2-m2pro mac-m4 mac-m4pro p2 p3 p3dn p4d p4de p5 p5e p5en
    p6-b200 p6-b300 p6e-gb200 r3 r4 r5 r5a r5ad r5b r5d r5dn r5n r6a r6g r6gd r6i r6id r6idn r6in r7a r7g
    r7gd r7i r7iz r8a r8g r8gd r8i r8i-flex t1 t2 t3 t3a t4g trn1 trn1n trn2 u-3tb1 u-6tb1 u-9tb1 u-12tb1
    u-18tb1 u-24tb1 u7i-6tb u7i-8tb u7i-12tb u7in-16tb u7in-24tb u7in-32tb u7inh-32tb vt1 x1 x1e x2gd
    x2idn x2iedn x2iezn x8g z1d
    """.split()  # noqa: SIM905 - a table reads better as words
)
_SIZE = re.compile(r"^(nano|micro|small|medium|large|xlarge|\d{1,3}xlarge|metal(-\d{1,3}xl)?|\d{1,3}xlarge-flex)$")
INSTANCE_SIZES = "nano, micro, small, medium, large, xlarge, <N>xlarge, metal, metal-<N>xl"


def region_problem(region: str) -> str | None:
    if region in AWS_REGIONS:
        return None
    return f"not a commercial AWS region (GovCloud and China use other ARN partitions); known: {', '.join(AWS_REGIONS)}"


def instance_type_problem(instance_type: str) -> str | None:
    family, dot, size = instance_type.partition(".")
    if not dot or not family or not size:
        return "an EC2 instance type is <family>.<size>, e.g. m6i.large"
    if family not in EC2_INSTANCE_FAMILIES:
        return f"{family!r} is not an EC2 instance family; known: {', '.join(sorted(EC2_INSTANCE_FAMILIES))}"
    if not _SIZE.match(size):
        return f"{size!r} is not an EC2 instance size; sizes are {INSTANCE_SIZES}"
    return None
