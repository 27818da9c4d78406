"""``make bench``: time the offline preview the way a user runs it, and check the targets.

- ``blueprint preview --all`` (every stack, policy pack included): median wall time over several
  runs, resources, resources per second and peak memory (max RSS of the preview process);
- scale: the dev stack with 10x the node pools and models, which must stay linear (<= 10 s);
- the estimates (cost, cold start, deploy time): ``--all`` with and without them, interleaved run by
  run; their overhead is judged on CPU seconds (user + sys of the preview), which a busy machine
  distorts far less than wall time, and must stay <= 10%.

Targets (2-core machine): ``--all`` <= 1.5 s and <= 228 MiB; 10x <= 10 s; estimates <= +10%. Exit 1 if one is missed.
Not part of ``make test``: timings belong in a benchmark, never in a test.
"""

from __future__ import annotations

import copy
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
BLUEPRINT = [sys.executable, "-m", "blueprint"]
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
TARGET_ALL_S, TARGET_ALL_MIB, TARGET_SCALE_S = 1.5, 228.0, 10.0
TARGET_ESTIMATES_OVERHEAD = 0.10
ESTIMATES = (
    "blueprint.preview.analyses.cost,blueprint.preview.analyses.cold_start,blueprint.preview.analyses.deploy_time"
)


_CPU: list[float] = []
"""CPU seconds (user + sys) of each ``_run``, in order."""


def _run(args: list[str], env: dict[str, str] | None = None) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """Wall seconds, peak RSS in MiB (this child alone), and the process; its CPU seconds go to ``_CPU``."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    before = usage.ru_maxrss
    start = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    _CPU.append(after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime)
    peak_kib = after.ru_maxrss
    # ru_maxrss of children is a running maximum; the first run sets it, later runs can only raise it.
    return wall, max(peak_kib, before) / 1024, proc


def _resources(json_dir: Path) -> int:
    return sum(len(json.loads(p.read_text())["resources"]) for p in json_dir.glob("*.json"))


def _scaled_project(factor: int) -> Path:
    """A copy of the stack files whose dev stack has ``factor`` times the node pools and models."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-"))
    (tmp / "stacks").mkdir()
    shutil.copy(ROOT / "Pulumi.yaml", tmp / "Pulumi.yaml")
    doc = yaml.safe_load((ROOT / "stacks" / "Pulumi.dev.yaml").read_text())
    cfg: dict[str, Any] = doc["config"]
    pools = cfg["ai-platform:nodePools"]
    cfg["ai-platform:nodePools"] = {
        (name if i == 0 else f"{name}-{i}"): copy.deepcopy(spec) for i in range(factor) for name, spec in pools.items()
    }
    models = cfg["ai-platform:serving"].get("models", {})
    cfg["ai-platform:serving"]["models"] = {
        (name if i == 0 else f"{name}-{i}"): copy.deepcopy(spec) for i in range(factor) for name, spec in models.items()
    }
    (tmp / "stacks" / "Pulumi.dev.yaml").write_text(yaml.safe_dump(doc))
    return tmp


def main() -> int:
    console = Console()
    out = Path(tempfile.mkdtemp(prefix="bench-json-"))
    walls, peaks, cpus, bare_walls, bare_cpus = [], [], [], [], []
    proc = None
    bare_env = {**os.environ, "BLUEPRINT_SKIP_ANALYSES": ESTIMATES}
    for _ in range(RUNS):
        wall, peak, proc = _run([*BLUEPRINT, "preview", "--all", "--quiet", "--json", str(out)])
        if proc.returncode not in (0, 1) or "program error" in proc.stderr:
            console.print(proc.stdout, proc.stderr, markup=False)
            return 1
        walls.append(wall)
        peaks.append(peak)
        cpus.append(_CPU[-1])
        bare_wall, _, _ = _run([*BLUEPRINT, "preview", "--all", "--quiet"], bare_env)
        bare_walls.append(bare_wall)
        bare_cpus.append(_CPU[-1])
    n = _resources(out)
    all_wall = statistics.median(walls)

    scaled = _scaled_project(10)
    env = {**os.environ, "BLUEPRINT_PROJECT_DIR": str(scaled)}
    scale_out = scaled / "out"
    scale_wall, scale_peak, sproc = _run(
        [*BLUEPRINT, "preview", "dev", "--quiet", "--json", str(scale_out / "dev.json")], env
    )
    if "program error" in sproc.stderr or not (scale_out / "dev.json").exists():
        console.print(sproc.stdout, sproc.stderr, markup=False)
        return 1
    scale_n = _resources(scale_out)

    table = Table(title=f"offline preview benchmark ({RUNS} runs, median; {os.cpu_count()} cores)")
    for col in ("case", "resources", "wall s", "resources/s", "peak MiB", "target", "result"):
        table.add_column(col)
    ok_all = all_wall <= TARGET_ALL_S and max(peaks) <= TARGET_ALL_MIB
    ok_scale = scale_wall <= TARGET_SCALE_S
    table.add_row(
        "preview --all (3 stacks + policy)", str(n), f"{all_wall:.2f}", f"{n / all_wall:.0f}", f"{max(peaks):.0f}",
        f"<= {TARGET_ALL_S} s, <= {TARGET_ALL_MIB:.0f} MiB", "PASS" if ok_all else "FAIL",
    )  # fmt: skip
    table.add_row(
        "dev x10 pools and models", str(scale_n), f"{scale_wall:.2f}", f"{scale_n / scale_wall:.0f}", f"{scale_peak:.0f}",
        f"<= {TARGET_SCALE_S} s", "PASS" if ok_scale else "FAIL",
    )  # fmt: skip
    overhead = statistics.median(cpus) / statistics.median(bare_cpus) - 1
    ok_est = overhead <= TARGET_ESTIMATES_OVERHEAD
    for case, w, c in (("without estimates", bare_walls, bare_cpus), ("with estimates", walls, cpus)):
        table.add_row(
            f"preview --all {case}", str(n), f"{statistics.median(w):.2f}", f"cpu {statistics.median(c):.2f} s", "",
            f"+{overhead:.1%} cpu (<= {TARGET_ESTIMATES_OVERHEAD:.0%})" if case.startswith("with ") else "",
            ("PASS" if ok_est else "FAIL") if case.startswith("with ") else "",
        )  # fmt: skip
    console.print(table)
    console.print(f"runs (s): {', '.join(f'{w:.2f}' for w in walls)}")
    shutil.rmtree(scaled, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    return 0 if ok_all and ok_scale and ok_est else 1


if __name__ == "__main__":
    sys.exit(main())
