"""Warm-up before ``blueprint preview --all`` forks its workers: import what a run of the program imports.

The workers (one per stack, blueprint/preview/command.py) then share the imported SDKs copy-on-write
instead of each importing them again.
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import re
from pathlib import Path

from blueprint.preview.engine import _entrypoint, _tune_runtime

_SDK_IMPORT = re.compile(r"^import (pulumi_\w+) as (\w+)\s*$", re.MULTILINE)


def preload() -> None:
    """Import what a run of the program imports, so workers forked afterwards share it copy-on-write.

    ``blueprint preview --all`` forks one worker per stack; without this each worker would import the
    providers' SDKs again (~1.2 s of class construction in ``pulumi_aws``/``pulumi_kubernetes``).
    The program's modules are found on disk (``infra/``, ``components/``), and the SDK submodules
    from the attribute paths their source names (``aws.ec2.Vpc`` -> ``pulumi_aws.ec2``), since the
    SDK packages load submodules lazily. Nothing is registered; a module missed here (or one that
    fails to import) only costs the worker the time to import it itself.
    """
    _tune_runtime()
    code = Path(_entrypoint()).parent
    modules: set[str] = set()
    for package in ("infra", "components"):
        for path in sorted((code / package).rglob("*.py")):
            rel = path.relative_to(code).with_suffix("")
            if rel.name != "__main__":
                modules.add(".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts))
            text = path.read_text()
            for sdk, alias in _SDK_IMPORT.findall(text):
                # The alias, and module-level names bound to it (`_K8S: Any = k8s`).
                names = [alias, *re.findall(rf"^(\w+)(?::[^=\n]*)?\s*=\s*{alias}\s*$", text, re.MULTILINE)]
                for name in names:
                    for sub, subsub in re.findall(rf"\b{name}\.([a-z_]\w*)(?:\.([a-z_]\w*))?", text):
                        modules.update((f"{sdk}.{sub}", f"{sdk}.{sub}.{subsub}") if subsub else (f"{sdk}.{sub}",))
    for name in sorted(modules):
        try:
            if importlib.util.find_spec(name) is not None:
                # The SDKs register submodules as lazy modules; reading an attribute (not __file__) executes them.
                hasattr(importlib.import_module(name), "__all__")
        except Exception:  # noqa: BLE001, S112 - a warm-up only; the worker reports real import errors
            continue
    gc.freeze()  # long-lived: keep them out of collections (and their pages out of copy-on-write in workers)
