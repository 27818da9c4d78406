"""``make bench``: time the offline preview the way a user runs it, and check the targets.

- ``blueprint preview --all`` (every stack, policy pack included): median wall time and CPU seconds
  (user + sys of the preview and its workers) over several runs, resources, and peak memory of the
  whole process tree (the preview forks one worker per stack): the largest single process (max RSS),
  the sum of the tree's RSS (shared copy-on-write pages counted in every process) and of its PSS
  (shared pages split between the processes that share them), sampled from ``/proc``;
- scale: the dev stack with 10x the node pools and models, which must stay linear (<= 10 s);
- the analyses: each one's CPU time per stack, measured in one process next to the run of the program
  and the policy pack it follows, as a share of the preview without analyses (all of them together
  must stay <= 10%). A whole-process A/B (``BLUEPRINT_SKIP_ANALYSES``) is printed too, but on a loaded
  2-core machine its noise (+-5%) is larger than what it measures.

Bytecode caching is on for the measured runs (``PYTHONDONTWRITEBYTECODE`` is dropped), as on a user's
machine or a CI runner; with it set, every run compiles the project's ~70 modules again (~0.3 s CPU).

Targets (2-core machine): ``--all`` <= 1.5 s and <= 228 MiB; 10x <= 10 s; analyses <= +10%. Exit 1 if one is missed.
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
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from tests.fixtures import PROJECT

ROOT = Path(__file__).resolve().parent.parent
BLUEPRINT = [sys.executable, "-m", "blueprint"]
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
TARGET_ALL_S, TARGET_ALL_MIB, TARGET_SCALE_S = 1.5, 228.0, 10.0
TARGET_ANALYSES_OVERHEAD = 0.10
ESTIMATES = (
    "blueprint.preview.analyses.cost,blueprint.preview.analyses.cold_start,blueprint.preview.analyses.deploy_time"
)
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


@dataclass
class Run:
    """One measured command."""

    wall: float
    cpu: float
    """user + sys seconds of the process and every descendant it waited for."""
    max_rss: float
    """MiB, the largest single process of the tree."""
    tree_rss: float
    """MiB, peak of the sum of RSS over the process tree (shared pages counted once per process)."""
    tree_pss: float
    """MiB, peak of the sum of PSS over the process tree (shared pages split between their sharers)."""
    proc: subprocess.CompletedProcess[str]


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            continue
    return out


def _memory(pid: int) -> tuple[float, float]:
    """Sum of RSS and of PSS (KiB) over ``pid`` and its descendants, now."""
    rss = pss = 0
    for p in _descendants(pid):
        try:
            with open(f"/proc/{p}/statm") as f:
                rss += int(f.read().split()[1]) * PAGE_KIB
            with open(f"/proc/{p}/smaps_rollup") as f:
                pss += next(int(line.split()[1]) for line in f if line.startswith("Pss:"))
        except (OSError, StopIteration, ValueError):
            continue
    return rss, pss


def _run(args: list[str], env: dict[str, str] | None = None) -> Run:
    """Run a command, sampling the memory of its process tree every 20 ms."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env or ENV)
    peak = [0.0, 0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            rss, pss = _memory(proc.pid)
            peak[0], peak[1] = max(peak[0], rss), max(peak[1], pss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    # ru_maxrss of children is a running maximum over every child so far: a lower bound for this run's.
    completed = subprocess.CompletedProcess(args, proc.returncode, stdout, stderr)
    return Run(wall, cpu, after.ru_maxrss / 1024, peak[0] / 1024, peak[1] / 1024, completed)


def _resources(json_dir: Path) -> int:
    return sum(len(json.loads(p.read_text())["resources"]) for p in json_dir.glob("*.json"))


def _scaled_project(factor: int) -> Path:
    """A copy of the stack files whose dev stack has ``factor`` times the node pools and models."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-"))
    (tmp / "stacks").mkdir()
    shutil.copy(ROOT / "Pulumi.yaml", tmp / "Pulumi.yaml")
    doc = yaml.safe_load((ROOT / "stacks" / "Pulumi.dev.yaml").read_text())
    cfg: dict[str, Any] = doc["config"]
    pools = cfg[f"{PROJECT}:nodePools"]
    cfg[f"{PROJECT}:nodePools"] = {
        (name if i == 0 else f"{name}-{i}"): copy.deepcopy(spec) for i in range(factor) for name, spec in pools.items()
    }
    models = cfg[f"{PROJECT}:serving"].get("models", {})
    cfg[f"{PROJECT}:serving"]["models"] = {
        (name if i == 0 else f"{name}-{i}"): copy.deepcopy(spec) for i in range(factor) for name, spec in models.items()
    }
    (tmp / "stacks" / "Pulumi.dev.yaml").write_text(yaml.safe_dump(doc))
    return tmp


def analysis_costs() -> dict[str, Any]:
    """CPU seconds of each phase of a preview, summed over the stacks, in this process (``--phases``).

    The program, the policy pack and each analysis run one after the other on the same plan, timed with
    ``time.process_time``; the first stack pays the imports, as the preview's parent does once.
    """
    import importlib

    from blueprint.preview import analyses, engine, policy_eval
    from blueprint.stackfiles import project_root, stack_names

    root = project_root()
    phases: dict[str, float] = {"program": 0.0, "policy": 0.0}
    for stack in stack_names(root):
        start = time.process_time()
        plan = engine.run_stack(stack)
        phases["program"] += time.process_time() - start
        start = time.process_time()
        plan.policy = dict(policy_eval.evaluate_plan(plan))
        phases["policy"] += time.process_time() - start
        for module in analyses.ANALYSES:
            start = time.process_time()
            importlib.import_module(module).analyse(plan, root)
            phases[module] = phases.get(module, 0.0) + time.process_time() - start
    return phases


def _analysis_rows(table: Table) -> bool:
    proc = subprocess.run([*BLUEPRINT[:1], "-m", "tests.bench", "--phases"], capture_output=True, text=True, env=ENV)
    phases: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    base = phases.pop("program") + phases.pop("policy")
    total = sum(phases.values())
    for module, cpu in sorted(phases.items(), key=lambda kv: -kv[1]):
        table.add_row(module.rsplit(".", 1)[-1], f"{cpu * 1000:.0f} ms", f"{cpu / base:.1%}", "")
    ok = total / base <= TARGET_ANALYSES_OVERHEAD
    table.add_row(
        "all analyses", f"{total * 1000:.0f} ms", f"{total / base:.1%} of {base:.2f} s",
        f"<= {TARGET_ANALYSES_OVERHEAD:.0%}: {'PASS' if ok else 'FAIL'}",
    )  # fmt: skip
    return ok


def main() -> int:
    if "--phases" in sys.argv:
        print(json.dumps(analysis_costs()))
        return 0
    console = Console(width=max(Console().width, 150))
    out = Path(tempfile.mkdtemp(prefix="bench-json-"))
    bare_out = Path(tempfile.mkdtemp(prefix="bench-json-"))
    # Warm the bytecode caches (the project's own modules), as any earlier run on a user's machine has.
    subprocess.run([*BLUEPRINT, "preview", "dev", "--quiet", "--no-policy"], capture_output=True, env=ENV, check=False)
    runs: list[Run] = []
    bare: list[Run] = []
    bare_env = {**ENV, "BLUEPRINT_SKIP_ANALYSES": ESTIMATES}
    for _ in range(RUNS):
        run = _run([*BLUEPRINT, "preview", "--all", "--quiet", "--json", str(out)])
        if run.proc.returncode not in (0, 1) or "program error" in run.proc.stderr:
            console.print(run.proc.stdout, run.proc.stderr, markup=False)
            return 1
        runs.append(run)
        # The same command (also writing JSON), interleaved, only without the estimates.
        bare.append(_run([*BLUEPRINT, "preview", "--all", "--quiet", "--json", str(bare_out)], bare_env))
    n = _resources(out)
    all_wall = statistics.median(r.wall for r in runs)
    peak_max = max(r.max_rss for r in runs)
    peak_tree_rss = max(r.tree_rss for r in runs)
    peak_tree_pss = max(r.tree_pss for r in runs)

    scaled = _scaled_project(10)
    scale_out = scaled / "out"
    scale = _run(
        [*BLUEPRINT, "preview", "dev", "--quiet", "--json", str(scale_out / "dev.json")],
        {**ENV, "BLUEPRINT_PROJECT_DIR": str(scaled)},
    )
    if "program error" in scale.proc.stderr or not (scale_out / "dev.json").exists():
        console.print(scale.proc.stdout, scale.proc.stderr, markup=False)
        return 1
    scale_n = _resources(scale_out)

    load = os.getloadavg()[0]
    table = Table(title=f"offline preview benchmark ({RUNS} runs, median; {os.cpu_count()} cores, load {load:.1f})")
    for col in ("case", "resources", "wall s", "cpu s", "max RSS MiB", "tree RSS / PSS MiB", "target", "result"):
        table.add_column(col)
    ok_all = all_wall <= TARGET_ALL_S and peak_max <= TARGET_ALL_MIB
    ok_scale = scale.wall <= TARGET_SCALE_S
    table.add_row(
        "preview --all (3 stacks + policy)", str(n), f"{all_wall:.2f}", f"{statistics.median(r.cpu for r in runs):.2f}",
        f"{peak_max:.0f}", f"{peak_tree_rss:.0f} / {peak_tree_pss:.0f}",
        f"<= {TARGET_ALL_S} s, <= {TARGET_ALL_MIB:.0f} MiB", "PASS" if ok_all else "FAIL",
    )  # fmt: skip
    table.add_row(
        "dev x10 pools and models", str(scale_n), f"{scale.wall:.2f}", f"{scale.cpu:.2f}", f"{scale.max_rss:.0f}",
        f"{scale.tree_rss:.0f} / {scale.tree_pss:.0f}", f"<= {TARGET_SCALE_S} s", "PASS" if ok_scale else "FAIL",
    )  # fmt: skip
    overhead = statistics.median(r.cpu for r in runs) / statistics.median(r.cpu for r in bare) - 1
    table.add_row(
        "preview --all without the estimates", str(n), f"{statistics.median(r.wall for r in bare):.2f}",
        f"{statistics.median(r.cpu for r in bare):.2f}", "", "", f"with them: {overhead:+.1%} cpu (noisy)", "",
    )  # fmt: skip
    console.print(table)
    console.print(f"runs (wall s): {', '.join(f'{r.wall:.2f}' for r in runs)}")
    console.print(f"runs (cpu s): {', '.join(f'{r.cpu:.2f}' for r in runs)}")

    shares = Table(title="analyses: CPU summed over the stacks, share of the preview without them (program + policy)")
    for col in ("analysis", "cpu", "share", "target"):
        shares.add_column(col)
    ok_analyses = _analysis_rows(shares)
    console.print(shares)
    shutil.rmtree(scaled, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(bare_out, ignore_errors=True)
    return 0 if ok_all and ok_scale and ok_analyses else 1


if __name__ == "__main__":
    sys.exit(main())
