"""preview-comment.yml posts fork-controlled report text: run its script under node with a hostile artifact.

The script is the workflow's own `actions/github-script` body, executed the way github-script does (an
async function of github, context, core, require) against a stub of the REST client. The comment it would
post is rendered with a CommonMark parser (raw HTML on, like GitHub) to check that nothing from the
artifact renders as anything but code.
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

from tests.conftest import ROOT

NODE = shutil.which("node")
HEAD_SHA = "0123456789abcdef0123456789abcdef01234567"
HOSTILE = """Resources: 12 to create
```
@everyone see <img src=x onerror=alert(1)> ![pwned](https://evil.example/x.png)
<details open><summary>✅ <b>prod</b>: passed</summary>
[click](javascript:alert(1)) <!-- hidden -->
`````
#team-mention @example-org/admins
"""

HARNESS = r"""
const fs = require('fs');
const [scriptPath, jobsJson] = process.argv.slice(2);
const calls = [];
const page = (data) => Object.assign(async () => ({ data }), { data });
const github = {
  paginate: async (fn) => fn.data,
  rest: {
    actions: { listJobsForWorkflowRun: page(JSON.parse(jobsJson)) },
    pulls: { list: page([{ number: 7, head: { sha: process.env.HEAD_SHA } }]) },
    issues: {
      listComments: page([]),
      createComment: async (a) => { calls.push(a); return { data: { html_url: 'https://x' } }; },
      updateComment: async (a) => { calls.push(a); },
    },
  },
};
const context = { repo: { owner: 'example-org', repo: 'ai-platform' } };
const core = { info: () => {} };
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
new AsyncFunction('github', 'context', 'core', 'require', fs.readFileSync(scriptPath, 'utf8'))(github, context, core, require)
  .then(() => console.log(JSON.stringify(calls)))
  .catch((e) => { console.error(e); process.exit(1); });
"""


def comment_step() -> dict[str, Any]:
    doc = yaml.safe_load((ROOT / ".github" / "workflows" / "preview-comment.yml").read_text())
    (step,) = [s for s in doc["jobs"]["comment"]["steps"] if "github-script" in s.get("uses", "")]
    return step


def post(tmp_path: Path, reports: dict[str, str], conclusions: dict[str, str]) -> str:
    """Run the workflow's script on these artifact files; return the comment body it posts."""
    sections = tmp_path / "sections"
    sections.mkdir()
    for name, text in reports.items():
        (sections / name).write_text(text)
    (tmp_path / "script.js").write_text(comment_step()["with"]["script"])
    (tmp_path / "harness.js").write_text(HARNESS)
    jobs = [{"name": f"offline preview ({s})", "conclusion": c} for s, c in conclusions.items()]
    env = {
        "PATH": "/usr/bin:/bin",
        "HEAD_SHA": HEAD_SHA,
        "HEAD_OWNER": "fork-owner",
        "HEAD_BRANCH": "feature",
        "RUN_URL": "https://github.com/example-org/ai-platform/actions/runs/1",
        "RUN_ID": "1",
    }
    proc = subprocess.run(
        [str(NODE), "harness.js", "script.js", json.dumps(jobs)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    (call,) = json.loads(proc.stdout)
    assert call["issue_number"] == 7
    return str(call["body"])


def outside_code(html: str) -> str:
    """The rendered HTML with every code block removed."""
    return re.sub(r"<pre><code[^>]*>.*?</code></pre>", "", html, flags=re.S)


pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")


def test_fork_controlled_text_renders_only_as_code(tmp_path: Path) -> None:
    body = post(tmp_path, {"dev.txt": HOSTILE, "prod.txt": "ok\n"}, {"dev": "success", "prod": "success"})
    html = MarkdownIt("commonmark").render(body)
    rest = outside_code(html)
    for needle in ("@everyone", "<img", "evil.example", "javascript:", "@example-org/admins", "<!-- hidden"):
        assert needle not in rest, needle
    # The whole hostile text survives, verbatim, inside a code block.
    code = "".join(re.findall(r"<pre><code[^>]*>(.*?)</code></pre>", html, flags=re.S))
    assert "@everyone see &lt;img" in code
    assert "`````" in code
    # Exactly our two summaries; the fake one from the artifact is inside the code.
    assert re.findall(r"<summary>(.*?)</summary>", rest) == ["✅ <b>dev</b>: success", "✅ <b>prod</b>: success"]


def test_the_status_comes_from_the_job_not_from_the_artifact(tmp_path: Path) -> None:
    fake = "<details><summary>✅ <b>dev</b>: passed</summary>\n\nall good\n"
    body = post(tmp_path, {"dev.txt": fake}, {"dev": "failure"})
    html = outside_code(MarkdownIt("commonmark").render(body))
    assert re.findall(r"<summary>(.*?)</summary>", html) == ["❌ <b>dev</b>: failure"]
    assert "<details open>" in html


def test_only_report_files_of_plain_stack_names_are_posted(tmp_path: Path) -> None:
    body = post(
        tmp_path,
        {"dev.txt": "ok", "dev.md": "# injected", "A B.txt": "no"},
        {"dev": "success"},
    )
    assert "injected" not in body
    assert "A B" not in body
    assert "missing" not in body


def test_the_comment_is_capped_below_githubs_limit(tmp_path: Path) -> None:
    huge = ("x" * 99 + "\n") * 3000  # 300,000 characters per stack
    body = post(
        tmp_path,
        {f"{s}.txt": huge for s in ("dev", "staging", "prod")},
        dict.fromkeys(("dev", "staging", "prod"), "success"),
    )
    assert len(body) < 65_536
    assert body.count("truncated") == 3
