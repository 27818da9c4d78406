"""``blueprint preview STACK|--all``: run the program offline under the mock engine and report the plan.

The report: the resource tree (unless ``--quiet``), the summary, the policy pack's violations, the behaviour
analyses' findings and the estimates; with ``--diff`` the changes against ``snapshots/<stack>.json`` first.
Exit 1 when a stack fails, a mandatory policy is violated or an analysis finding blocks.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from rich.console import Console

from blueprint.common import EXIT_ERROR, EXIT_OK, UsageError, console, one_line
from blueprint.preview.engine import run_stack
from blueprint.preview.plan import Plan
from blueprint.preview.policy_eval import evaluate_plan

T = TypeVar("T")

SNAPSHOT_DIR = Path("snapshots")


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``preview`` to the CLI."""
    pv = sub.add_parser("preview", help="run the program offline under the mock engine and print the plan")
    pv.add_argument("stack", nargs="?", help="stack name (stacks/Pulumi.<stack>.yaml)")
    pv.add_argument("--all", action="store_true", help="preview every stack")
    pv.add_argument("--json", metavar="PATH", help="write the plan as JSON (with --all: a directory)")
    pv.add_argument("--diff", action="store_true", help="show changes against the committed snapshot")
    pv.add_argument("--write-snapshots", action="store_true", help="write snapshots/<stack>.json")
    pv.add_argument(
        "--render-k8s", metavar="DIR", help="write every Kubernetes object and Helm values file under DIR/<stack>/"
    )
    pv.add_argument("--no-policy", action="store_true", help="skip the policy pack")
    pv.add_argument(
        "--quiet",
        "-q",
        action="store_true",
        help="print the summary and findings only (policy violations, analysis findings, estimate headlines), no tree",
    )
    pv.add_argument(
        "--show-dependency-changes",
        action="store_true",
        help="with --diff, also list updates whose only change is the dependency list (hidden by default)",
    )
    pv.set_defaults(handler=run)


def _check_outputs(args: argparse.Namespace) -> None:
    """Refuse output paths that cannot work before minutes of previews are spent (usage errors)."""
    if args.json:
        target = Path(args.json)
        if args.all and target.exists() and not target.is_dir():
            raise UsageError(f"preview: --all --json needs a directory (one <stack>.json each); {target} is a file")
        if not args.all and target.is_dir():
            raise UsageError(f"preview: --json {target} is a directory; give a file path (or use --all)")
        if not args.all and target.exists():
            if not os.access(target, os.W_OK):
                raise UsageError(f"preview: --json {target} is not writable")
        else:
            _check_parent(target if args.all else target.parent, "--json")
    if args.render_k8s:
        target = Path(args.render_k8s)
        if target.exists() and not target.is_dir():
            raise UsageError(f"preview: --render-k8s {target} is a file; give a directory")
        _check_parent(target, "--render-k8s")


def _check_parent(path: Path, flag: str) -> None:
    """The nearest existing ancestor of ``path`` must be a directory we can write into."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise UsageError(f"preview: {flag} {path}: {probe} is not a writable directory")


def run(args: argparse.Namespace) -> int:
    """The ``preview`` command: a report per stack, then the outputs asked for; the worst exit code."""
    from blueprint.stackfiles import project_root, stack_names

    root = project_root()
    known = stack_names(root)
    if args.all == bool(args.stack):
        raise UsageError("preview: give one STACK or --all")
    if args.stack and args.stack not in known:
        raise UsageError(f"preview: unknown stack {args.stack!r}; known stacks: {', '.join(known)}")
    stacks = known if args.all else [args.stack]
    _check_outputs(args)
    out, err = console(), console(stderr=True)
    # Policy config errors are one line before any stack runs (exit 2), and the files are named per stack.
    applied = {s: _policy_config_line(s) for s in stacks} if not args.no_policy else {}
    results, worst = _checked_plans(err, root, stacks, args)
    for stack, result in results:
        if isinstance(result, str):
            err.print(result, markup=False)
            worst = EXIT_ERROR
            continue
        worst = max(worst, _report(out, err, root, stack, result, args, applied.get(stack, "")))
        _write_outputs(out, root, stack, result, args)
    return worst


def _checked_plans(
    err: Console, root: Path, stacks: list[str], args: argparse.Namespace
) -> tuple[list[tuple[str, Plan | str]], int]:
    """The plans and the exit code so far, after the cross-stack checks (blueprint/singletons.py): the account
    singletons' owners, from the stack files alone before any engine runs (a refusal: no plans); with --all,
    physical names two stacks would share."""
    from blueprint import singletons

    lines = singletons.singleton_problems(root, None if args.all else stacks)
    results = [] if lines else _plans(stacks, policy=not args.no_policy)
    if args.all and results:
        lines = singletons.clashes_of(root, results)
    for line in lines:
        err.print(line, markup=False)
    return results, EXIT_ERROR if lines else EXIT_OK


def _policy_config_line(stack: str) -> str:
    """Which policy config files the stack's evaluation applies (blueprint.preview.policy_config.merged)."""
    from blueprint.preview.policy_config import merged
    from infra.config import ConfigError

    try:
        return merged(stack).describe()
    except ConfigError:
        return ""  # the stack file itself is invalid: the stack's run reports every problem (exit 1)


def _report(
    out: Console, err: Console, root: Path, stack: str, plan: Plan, args: argparse.Namespace, applied: str = ""
) -> int:
    """Print one stack's report (diff, tree, summary, policy, analyses, estimates); 1 when it must fail."""
    from blueprint.preview import report
    from blueprint.preview.analyses import blocking

    worst = EXIT_OK
    snap = root / SNAPSHOT_DIR / f"{stack}.json"
    if args.diff:
        if not snap.exists():
            err.print(
                f"{stack}: no snapshot at {snap.relative_to(root)}; run `blueprint preview --all --write-snapshots`"
            )
            worst = EXIT_ERROR
        else:
            _print_diff(out, stack, json.loads(snap.read_text()), plan, args)
    if not args.quiet:
        report.print_tree(out, plan)
    report.print_summary(out, plan, quiet=args.quiet, diffed=args.diff)
    if plan.policy is not None:
        if applied:
            out.print(applied, markup=False)
        report.print_policy(out, plan.policy)
        if plan.policy.get("mandatory", 0):
            worst = EXIT_ERROR
    if plan.analyses is not None:
        report.print_analyses(out, plan.analyses, quiet=args.quiet)
        report.print_estimates(out, plan, quiet=args.quiet)
        if blocking(plan.analyses):
            worst = EXIT_ERROR
    return worst


def _write_outputs(out: Console, root: Path, stack: str, plan: Plan, args: argparse.Namespace) -> None:
    """Write the snapshot, the JSON plan and the rendered Kubernetes files the arguments ask for."""
    if args.write_snapshots:
        snap = root / SNAPSHOT_DIR / f"{stack}.json"
        plan.write_json(snap)
        out.print(f"wrote {snap.relative_to(root)}")
    if args.json:
        target = Path(args.json)
        path = target / f"{stack}.json" if args.all else target
        _writing(path, plan.write_json, path)
        out.print(f"wrote {path}")
    if args.render_k8s:
        from blueprint.preview import render

        target_dir = Path(args.render_k8s) / stack
        written = _writing(target_dir, render.render_k8s, plan, target_dir)
        out.print(f"rendered {written} Kubernetes files to {Path(args.render_k8s) / stack}")


def _print_diff(out: Console, stack: str, base: dict[str, object], plan: Plan, args: argparse.Namespace) -> None:
    """The diff leads the report (and so the PR comment, preview-comment.yml): the title line saying what
    changes, the cost delta, then each change with its old → new values."""
    from blueprint.preview import report
    from blueprint.preview.plan import diff

    doc = plan.public()
    changes = diff(base, doc)
    shown = report.shown_changes(changes, args.show_dependency_changes)
    hidden = len(changes) - len(shown)
    out.print(report.diff_title(stack, shown, hidden), markup=False)
    out.print(("" if not args.all else f"{stack}: ") + report.cost_delta(base, doc), markup=False)
    report.print_diff(out, stack, shown, hidden)


def _writing(path: Path, write: Callable[..., T], *args: object) -> T:
    """Run ``write(*args)``; an OSError names ``path`` when the OS did not (a failed flush of /dev/full)."""
    try:
        return write(*args)
    except OSError as exc:
        if exc.filename:
            raise
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from None


def _plan_or_error(stack: str, policy: bool) -> Plan | str:
    """A stack's plan, or the message that explains why there is none (never a traceback)."""
    from infra.config import ConfigError

    try:
        return preview_plan(stack, policy=policy)
    except ConfigError as exc:
        return str(exc)
    except Exception as exc:
        if os.environ.get("BLUEPRINT_DEBUG"):
            raise
        return f"{stack}: program error: {type(exc).__name__}: {one_line(str(exc))}"


def _plans(stacks: Sequence[str], *, policy: bool) -> list[tuple[str, Plan | str]]:
    """Plans for several stacks; on a multi-core machine they run in forked workers, in parallel.

    Each stack is an independent run of the program, so forking after the imports shares the
    imported SDKs copy-on-write and uses both cores of a CI runner.
    """
    jobs = min(len(stacks), os.cpu_count() or 1, int(os.environ.get("BLUEPRINT_JOBS", "2")))
    if jobs < 2 or not hasattr(os, "fork"):
        # The cyclic GC off while the programs run: the SDK keeps nearly everything it allocates alive until
        # the run ends, so collections mostly walk live objects (~10% of a large stack's time) and the peak
        # RSS is the same without them (767-resource stack: 220 MiB either way). Restored afterwards.
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return [(s, _plan_or_error(s, policy)) for s in stacks]
        finally:
            if was_enabled:
                gc.enable()
    import multiprocessing

    _preload(policy)
    # One fresh worker per stack (maxtasksperchild=1): it runs one program and exits (os._exit), so its
    # cyclic garbage dies with it; collecting it would cost ~0.3 s per stack (freeing the whole run).
    with multiprocessing.get_context("fork").Pool(jobs, initializer=gc.disable, maxtasksperchild=1) as pool:
        results = pool.starmap(_plan_or_error, [(s, policy) for s in stacks], chunksize=1)
    return list(zip(stacks, results, strict=True))


def _preload(policy: bool) -> None:
    """Import, once and before forking, what every worker would otherwise import again."""
    from blueprint.preview import analyses, warmup
    from blueprint.preview.policy_eval import load_pack

    warmup.preload()
    if policy:
        load_pack()
    for module in analyses.ANALYSES:
        importlib.import_module(module)
    gc.freeze()


def preview_plan(stack: str, *, policy: bool = True) -> Plan:
    """Run one stack offline and, unless told not to, evaluate the policy pack on it."""
    plan = run_stack(stack)
    if policy:
        plan.policy = dict(evaluate_plan(plan))
    from blueprint.preview.analyses import run_all
    from blueprint.stackfiles import project_root

    plan.analyses = run_all(plan, project_root())
    return plan
