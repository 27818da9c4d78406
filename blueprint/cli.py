"""``blueprint``: the platform's command-line tool.

``blueprint preview STACK|--all`` runs the program offline and prints what it would create.
Exit codes, the same for every command: 0 success, 1 failure (program or config error, a mandatory policy
violation, an output that cannot be written, a failed AWS call), 2 usage error. Every error is one line.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from rich.console import Console

from blueprint.engine import run_stack
from blueprint.plan import Plan

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2
T = TypeVar("T")

SNAPSHOT_DIR = Path("snapshots")


class UsageError(Exception):
    """A bad command-line argument."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}")


# Width of the output when it is not a terminal (a CI log, a file, the PR comment's artifact). rich would
# assume 80 columns and cut long URNs and type tokens with "…"; logs and the comment scroll sideways, so
# lines stay whole up to this width, and table cells fold (wrap, never cut) beyond it. COLUMNS still wins.
PIPE_WIDTH = 240


def _console(stderr: bool = False) -> Console:
    # rich honours NO_COLOR and drops styling when the stream is not a TTY (CI logs).
    console = Console(stderr=stderr, highlight=False, soft_wrap=True)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = PIPE_WIDTH
    return console


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="blueprint", description="Offline preview and operations for the ai-platform blueprint.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
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
    from blueprint import prices

    prices.register(sub)
    for register in _EXTRA_COMMANDS:
        register(sub)
    return p


# Other modules (ops commands) add their subcommands here: fn(subparsers) -> None, and set
# `handler=` on their parser to a function(args) -> exit code.
_EXTRA_COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = []


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``blueprint`` console script."""
    err = _console(stderr=True)
    try:
        argv = list(sys.argv[1:] if argv is None else argv)
        if argv[:1] != ["preview"]:
            # The ops and upkeep commands import boto3 and their helpers (~0.15 s); `preview` needs none.
            _load_extra_commands()
        args = _parser().parse_args(argv)
        handler = getattr(args, "handler", None) or _preview
        return int(handler(args))
    except UsageError as exc:
        err.print(f"[red]usage error:[/] {_one_line(str(exc))}", markup=True)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        # An output that cannot be written (a directory given as a file, a full disk, /proc): one line.
        where = f" {exc.filename}" if exc.filename else ""
        err.print(f"error: cannot write{where}: {exc.strerror or exc}", markup=False)
        return EXIT_ERROR
    except Exception as exc:
        if os.environ.get("BLUEPRINT_DEBUG"):
            raise
        err.print(f"error: {type(exc).__name__}: {_one_line(str(exc))} (BLUEPRINT_DEBUG=1 shows the traceback)")
        return EXIT_ERROR


def _one_line(text: str) -> str:
    return " ".join(text.split())[:2000]


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


def _load_extra_commands() -> None:
    if _EXTRA_COMMANDS:
        return
    for module in ("blueprint.ops", "blueprint.upkeep"):
        try:
            commands = importlib.import_module(module)
        except ModuleNotFoundError:
            continue
        _EXTRA_COMMANDS.extend(getattr(commands, "COMMANDS", []))


def _preview(args: argparse.Namespace) -> int:
    from blueprint.stackfiles import project_root, stack_names

    root = project_root()
    known = stack_names(root)
    if args.all == bool(args.stack):
        raise UsageError("preview: give one STACK or --all")
    if args.stack and args.stack not in known:
        raise UsageError(f"preview: unknown stack {args.stack!r}; known stacks: {', '.join(known)}")
    stacks = known if args.all else [args.stack]
    _check_outputs(args)
    out, err = _console(), _console(stderr=True)

    from blueprint import report

    worst = EXIT_OK
    for stack, result in _plans(stacks, policy=not args.no_policy):
        if isinstance(result, str):
            err.print(result, markup=False)
            worst = EXIT_ERROR
            continue
        plan = result
        snap = root / SNAPSHOT_DIR / f"{stack}.json"
        if args.diff:
            if not snap.exists():
                err.print(
                    f"{stack}: no snapshot at {snap.relative_to(root)}; run `blueprint preview --all --write-snapshots`"
                )
                worst = max(worst, EXIT_ERROR)
            else:
                _print_diff(out, stack, json.loads(snap.read_text()), plan, args)
        if not args.quiet:
            report.print_tree(out, plan)
        report.print_summary(out, plan, quiet=args.quiet, diffed=args.diff)
        if plan.policy is not None:
            report.print_policy(out, plan.policy)
            if plan.policy.get("mandatory", 0):
                worst = max(worst, EXIT_ERROR)
        if plan.analyses is not None:
            from blueprint.analyses import blocking

            report.print_analyses(out, plan.analyses, quiet=args.quiet)
            report.print_estimates(out, plan, quiet=args.quiet)
            if blocking(plan.analyses):
                worst = max(worst, EXIT_ERROR)
        if args.write_snapshots:
            plan.write_json(snap)
            out.print(f"wrote {snap.relative_to(root)}")
        if args.json:
            target = Path(args.json)
            path = target / f"{stack}.json" if args.all else target
            _writing(path, plan.write_json, path)
            out.print(f"wrote {path}")
        if args.render_k8s:
            from blueprint import render

            target_dir = Path(args.render_k8s) / stack
            written = _writing(target_dir, render.render_k8s, plan, target_dir)
            out.print(f"rendered {written} Kubernetes files to {Path(args.render_k8s) / stack}")
    return worst


def _print_diff(out: Console, stack: str, base: dict[str, object], plan: Plan, args: argparse.Namespace) -> None:
    """The diff leads the report (and so the PR comment, preview-comment.yml): the title line saying what
    changes, the cost delta, then each change with its old → new values."""
    from blueprint import report
    from blueprint.plan import diff

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
        return f"{stack}: program error: {type(exc).__name__}: {_one_line(str(exc))}"


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
    from blueprint import analyses, engine

    engine.preload()
    if policy:
        with contextlib.suppress(ModuleNotFoundError):  # as preview_plan: no policy_eval, no policy report
            importlib.import_module("blueprint.policy_eval").load_pack()
    for module in analyses.ANALYSES:
        importlib.import_module(module)
    gc.freeze()


def preview_plan(stack: str, *, policy: bool = True) -> Plan:
    """Run one stack offline and, unless told not to, evaluate the policy pack on it."""
    plan = run_stack(stack)
    if policy:
        try:
            policy_eval = importlib.import_module("blueprint.policy_eval")
        except ModuleNotFoundError:
            return plan
        plan.policy = dict(policy_eval.evaluate_plan(plan))
    from blueprint.analyses import run_all
    from blueprint.stackfiles import project_root

    plan.analyses = run_all(plan, project_root())
    return plan


if __name__ == "__main__":
    sys.exit(main())
