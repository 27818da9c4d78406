"""The PR comment's section title is the `--diff` title line (preview-comment.yml), and only when it is one.

Runs the workflow's own github-script body under node against a stub of the REST client (as
tests/delivery/test_preview_comment.py does for the hostile-artifact cases) and renders the comment with
a CommonMark parser, raw HTML on, like GitHub.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from markdown_it import MarkdownIt

from blueprint.preview import report
from blueprint.preview.plan import Change, Delta
from tests.delivery.test_preview_comment import HARNESS

ROOT = Path(__file__).resolve().parents[2]
NODE = shutil.which("node")
SHA = "0123456789abcdef0123456789abcdef01234567"

# The same stand-in for actions/github-script as the comment's own tests (one harness for the workflow's script).

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")


def _script() -> str:
    doc = yaml.safe_load((ROOT / ".github" / "workflows" / "preview-comment.yml").read_text())
    (step,) = [s for s in doc["jobs"]["comment"]["steps"] if "github-script" in s.get("uses", "")]
    return str(step["with"]["script"])


def summaries(tmp_path: Path, reports: dict[str, str], state: str = "success") -> list[str]:
    """The rendered <summary> of each stack's section in the comment the workflow would post."""
    sections = tmp_path / "sections"
    sections.mkdir()
    for stack, text in reports.items():
        (sections / f"{stack}.txt").write_text(text)
    (tmp_path / "script.js").write_text(_script())
    (tmp_path / "harness.js").write_text(HARNESS)
    jobs = [{"name": f"offline preview ({s})", "conclusion": state} for s in reports]
    env = {
        "PATH": "/usr/bin:/bin",
        "HEAD_SHA": SHA,
        "HEAD_OWNER": "f",
        "HEAD_BRANCH": "b",
        "RUN_URL": "u",
        "RUN_ID": "1",
    }
    proc = subprocess.run(
        [str(NODE), "harness.js", "script.js", json.dumps(jobs)],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (call,) = json.loads(proc.stdout)
    html = MarkdownIt("commonmark").render(call["body"])
    outside = re.sub(r"<pre><code[^>]*>.*?</code></pre>", "", html, flags=re.S)
    return re.findall(r"<summary>(.*?)</summary>", outside)


def _changes() -> list[Change]:
    urn = "urn:pulumi:dev::ai-platform::platform:index:Serving$kubernetes:apps/v1:Deployment::serving-llama-3-8b"
    delta = Delta("spec.template.spec.containers[0].image", "vllm:0.6", "vllm:0.7")
    return [
        Change("~", urn, (delta,)),
        Change("+", urn.replace("serving-llama-3-8b", "serving-llama-3-8b-canary")),
        Change("+", urn.replace("serving-llama-3-8b", "serving-mistral-7b")),
    ]


def test_the_section_title_is_the_diff_title_line(tmp_path: Path) -> None:
    title = report.diff_title("dev", _changes())
    assert title == (
        "dev: 2 to create, 1 to update (serving-llama-3-8b: spec.template.spec.containers[0].image; "
        "+ serving-llama-3-8b-canary; + serving-mistral-7b)"
    )
    text = f"{title}\ncost: idle +$0/month, ceiling +$0/month\n  ~ urn:...\n"
    assert summaries(tmp_path, {"dev": text}) == [f"✅ <b>dev</b>: success · <code>{title}</code>"]


def test_an_unchanged_stack_says_so_in_its_title(tmp_path: Path) -> None:
    title = report.diff_title("prod", [], hidden=2)
    assert title == "prod: no changes against the snapshot (2 dependency-only update(s) hidden)"
    assert summaries(tmp_path, {"prod": title + "\n"}, "failure") == [f"❌ <b>prod</b>: failure · <code>{title}</code>"]


def test_a_long_title_is_cut_with_a_count_and_stays_a_title(tmp_path: Path) -> None:
    many = [Change("+", f"urn:pulumi:dev::p::t$aws:s3/bucket:Bucket::bucket-number-{i}") for i in range(40)]
    title = report.diff_title("dev", many)
    assert len(title) <= 200
    assert title.startswith("dev: 40 to create (+ bucket-number-0; "), title
    assert title.endswith(" more)"), title
    assert summaries(tmp_path, {"dev": title + "\n"})[0].endswith(f"<code>{title}</code>")


@pytest.mark.parametrize(
    "first",
    [
        "dev: 1 to create (@everyone)",
        "dev: 1 to create <img src=x onerror=alert(1)>",
        "dev: 1 to create (see #1)",
        "dev: 1 to create `x`",
        "dev: 1 to create &amp; more",
        "prod: 1 to create (another stack's title)",
        "Resources: 12 to create",
        "dev: 1 to create " + "x" * 300,
    ],
)
def test_a_first_line_of_another_shape_gives_no_title(tmp_path: Path, first: str) -> None:
    """The artifact is written by PR code: only the exact title shape, in inert characters, is lifted."""
    assert summaries(tmp_path, {"dev": f"{first}\nrest\n"}) == ["✅ <b>dev</b>: success"]


def test_every_title_the_tool_writes_is_liftable() -> None:
    """The characters a title can contain are those the workflow lifts (logical names, input paths)."""
    script = _script()
    allowed = re.search(r"\)\)\[(.*?)\]\{0,220\}", script)
    assert allowed, "the workflow's title pattern changed; update this test"
    cls = re.compile("[" + allowed.group(1).replace("\\\\", "\\") + "]*")
    change: Any = _changes()
    for title in (report.diff_title("dev", change), report.diff_title("dev", [], hidden=3)):
        assert cls.fullmatch(title.split(": ", 1)[1]), title
