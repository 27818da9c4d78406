"""``stack add``'s edits to the GitHub workflows and the README: the new stack joins its tier's deploy chain.

The deploy chain is the order of the stack jobs in ``.github/workflows/*.yml`` (each job ``needs`` the one
before it, lower tiers first); the new stack's job is a copy of its source's, renamed, and inserted after the
last stack of its tier. Comments and formatting are kept (ruamel round-trip).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from blueprint.stackfiles import stack_sort_key
from blueprint.upkeep.stack_add import _NOT_RENAMED_IN_JOBS, TIERS, Output, Request, _sub_words, _yaml, dump_rt, load_rt


def _tier_rank(tier: str) -> int:
    return TIERS.index(tier) if tier in TIERS else len(TIERS)


def _needs(job: Any) -> list[str]:
    n = job.get("needs", [])
    return [n] if isinstance(n, str) else list(n)


def _set_needs(job: Any, needs: list[str]) -> None:
    """Set `needs` in place, so a flow-style list (`needs: [dev]`) stays one."""
    current = job.get("needs")
    if isinstance(current, list):
        current[:] = needs
    elif needs:
        job["needs"] = needs[0] if len(needs) == 1 else needs
    else:
        job.pop("needs", None)


def _chain(jobs: Any, stacks: set[str]) -> list[str]:
    """Jobs that run in a stack's GitHub Environment, in `needs` order."""
    env_jobs = [j for j, spec in jobs.items() if isinstance(spec, dict) and spec.get("environment") in stacks]
    order: list[str] = []
    while len(order) < len(env_jobs):
        ready = [j for j in env_jobs if j not in order and set(_needs(jobs[j])) & set(env_jobs) <= set(order)]
        if not ready:
            break
        order.append(ready[0])
    return order


def _rename_in(node: Any, old: str, new: str) -> Any:
    """Replace the stack token in a copied job's strings and comments (not in `uses`/`run`)."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    table = {old: new}
    if isinstance(node, CommentedMap):
        for k in list(node):
            if k not in _NOT_RENAMED_IN_JOBS:
                node[k] = _rename_in(node[k], old, new)
        _rename_comments(node, table)
        return node
    if isinstance(node, CommentedSeq):
        for i, item in enumerate(node):
            node[i] = _rename_in(item, old, new)
        _rename_comments(node, table)
        return node
    if isinstance(node, str):
        return type(node)(_sub_words(str(node), table)) if type(node) is not str else _sub_words(node, table)
    return node


def _rename_comments(node: Any, table: dict[str, str]) -> None:
    for tokens in node.ca.items.values():
        for tok in tokens if isinstance(tokens, list) else [tokens]:
            for t in tok if isinstance(tok, list) else [tok]:
                if t is not None and hasattr(t, "value"):
                    t.value = _sub_words(t.value, table)


def edit_workflow(text: str, what: str, req: Request, tiers: dict[str, str]) -> tuple[str, list[str]]:
    """One workflow with the new stack in its matrices and deploy chain; the new chain order."""
    doc = load_rt(text, what)
    jobs = doc.get("jobs")
    if not jobs:
        return text, []
    for spec in jobs.values():
        matrix = ((spec or {}).get("strategy") or {}).get("matrix") or {}
        stacks = matrix.get("stack")
        if isinstance(stacks, list) and req.source in stacks and req.name not in stacks:
            stacks.append(req.name)
            if stacks[:-1] == sorted(stacks[:-1], key=stack_sort_key):
                stacks.sort(key=stack_sort_key)  # in place: keeps the flow style; matches `stack_names`
    chain = _chain(jobs, set(tiers))
    src_job = next((j for j in chain if jobs[j].get("environment") == req.source), None)
    if src_job is None:
        return dump_rt(doc), []
    new_job = _sub_words(src_job, {req.source: req.name})
    _copy_gates(jobs, src_job, chain, req)
    rank = _tier_rank(req.tier)
    after = max((i for i, j in enumerate(chain) if _tier_rank(tiers[jobs[j]["environment"]]) <= rank), default=-1)
    spec = _rename_in(copy.deepcopy(jobs[src_job]), req.source, req.name)
    spec["environment"] = req.name
    prev = chain[after] if after >= 0 else None
    _set_needs(spec, [n for n in _needs(spec) if n not in chain] + ([prev] if prev else []))
    if after + 1 < len(chain):
        succ = jobs[chain[after + 1]]
        _set_needs(succ, [n for n in _needs(succ) if n != prev] + [new_job])
    position = list(jobs).index(prev) + 1 if prev else len(jobs)
    jobs.insert(position, new_job, spec)
    return dump_rt(doc), [*chain[: after + 1], new_job, *chain[after + 1 :]]


def _copy_gates(jobs: Any, src_job: str, chain: list[str], req: Request) -> None:
    """Copy the jobs the source's deploy job needs outside the chain (its ``preflight-<stack>``) for the new
    stack, before the deploy jobs: the copied deploy job needs them under their renamed ids."""
    for need in _needs(jobs[src_job]):
        renamed = _sub_words(need, {req.source: req.name})
        if need in chain or renamed == need or renamed in jobs or need not in jobs:
            continue
        spec = _rename_in(copy.deepcopy(jobs[need]), req.source, req.name)
        jobs.insert(list(jobs).index(need) + 1, renamed, spec)


def workflows(root: Path, req: Request, tiers: dict[str, str], out: Output) -> list[str]:
    """Edit every workflow; the deploy chain (job ids) after the edit, if one was found."""
    chain: list[str] = []
    for path in sorted((root / ".github" / "workflows").glob("*.y*ml")):
        rel = path.relative_to(root).as_posix()
        text = path.read_text()
        new, order = edit_workflow(text, rel, req, tiers)
        if new != text:
            out.files[rel] = new
        chain = order or chain
    if not chain:
        out.notes.append(f"no workflow job runs in the `{req.source}` environment: add {req.name}'s deploy job by hand")
    return chain


def readme_order(root: Path, before: list[str], after: list[str], out: Output) -> None:
    """Keep a README line that spells the deploy chain (`… → dev → staging → prod`) in step."""
    readme = root / "README.md"
    old, new = " → ".join(before), " → ".join(after)
    if before and readme.is_file() and old in (text := readme.read_text()):
        out.files["README.md"] = text.replace(old, new)


def chain_of(root: Path, tiers: dict[str, str]) -> list[str]:
    """The stacks of the first workflow that has a deploy chain, in chain order."""
    for path in sorted((root / ".github" / "workflows").glob("*.y*ml")):
        doc = _yaml().load(path.read_text())
        chain = _chain((doc or {}).get("jobs") or {}, set(tiers))
        if chain:
            return chain
    return []
