"""What the Pulumi CLI (pinned in .pulumi-version) does on the credentialed path, run for real where possible.

Each test cites the CLI source it encodes. Read at pulumi/pulumi 3.259 (the newest snapshot stored for this
project); the functions cited are unchanged in their role up to the pinned 3.272.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

PROJECT = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
POLICY = yaml.safe_load((ROOT / "policy" / "PulumiPolicy.yaml").read_text())


def program_directory() -> Path:
    # pkg/engine/project.go, getPwdMain: with `main: <dir>` the working directory becomes <root>/<dir> and
    # main ".", and the language host gets that directory as ProgramDirectory (install and run alike).
    return (ROOT / PROJECT.get("main", ".")).resolve()


def pins(path: Path) -> dict[str, str]:
    return dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)$", path.read_text(), re.M))


def test_pulumi_install_finds_requirements_in_the_program_directory() -> None:
    # sdk/python/toolchain/pip.go, InstallDependencies: creates the venv at <root>/<virtualenv>, upgrades pip,
    # then `if requirements.txt does not exist in cwd: return nil` -- silently. cwd is the program
    # directory (pulumi-language-python main.go, InstallDependencies passes req.Info.ProgramDirectory).
    assert PROJECT["runtime"]["options"] == {"toolchain": "pip", "virtualenv": ".venv"}
    assert program_directory() == ROOT / "infra"
    assert (program_directory() / "requirements.txt").is_file(), "`pulumi install` would install nothing"
    assert (program_directory() / "__main__.py").is_file()


@pytest.mark.skipif(not (ROOT / ".venv" / "bin" / "python").exists(), reason="needs the project's .venv")
def test_what_pulumi_install_runs_resolves_the_sdk_and_the_project(tmp_path: Path) -> None:
    # The command pip.go runs: `<venv>/bin/python -m pip install -r requirements.txt` with Dir = the program
    # directory. pip resolves a nested `-r` relative to the including file but an editable path relative to
    # the working directory, which is why infra/requirements.txt says `-e ..`. Resolve it for real (dry run:
    # same resolver, nothing installed) and check what would be installed.
    report = tmp_path / "report.json"
    proc = subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "python"), "-m", "pip", "install", "--dry-run", "--ignore-installed",
            "--no-deps", "--quiet", "--disable-pip-version-check", "--report", str(report), "-r", "requirements.txt",
        ],
        cwd=program_directory(),
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    installs = {i["metadata"]["name"].lower().replace("_", "-"): i for i in json.loads(report.read_text())["install"]}
    for name, version in pins(ROOT / "requirements.txt").items():
        assert installs[name.lower().replace("_", "-")]["metadata"]["version"] == version, name
    project = installs[f"{PROJECT['name']}-blueprint"]
    assert project["download_info"]["dir_info"] == {"editable": True}
    assert project["download_info"]["url"] == ROOT.resolve().as_uri()  # the repository root, not infra/


def test_the_program_imports_its_packages_from_the_installed_project_not_the_cwd() -> None:
    # The language host changes into the program directory and runs the program there with main "."
    # (pkg/engine/project.go getPwdMain; the Python executor does runpy.run_path on it). The repository root
    # is then not on sys.path; `components` must come from the editable install.
    main = (ROOT / "infra" / "__main__.py").read_text()
    assert "from components." in main
    assert 'runpy.run_path(".")' in main.split('"""')[1]
    proc = subprocess.run(
        [sys.executable, "-c", "import components, infra, blueprint; print(components.__file__)"],
        cwd=ROOT / "infra",
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()).parent == ROOT / "components"


def test_the_policy_pack_pins_match_the_program() -> None:
    program, pack = pins(ROOT / "requirements.txt"), pins(ROOT / "policy" / "requirements.txt")
    assert set(pack) == {"pulumi", "pulumi-policy"}
    assert all(program[k] == v for k, v in pack.items())


@pytest.fixture(scope="module")
def policy_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """policy/ copied to a temp dir and its venv built by `make policy-venv`, exactly as CI's setup action."""
    work = tmp_path_factory.mktemp("pack")
    shutil.copy(ROOT / "Makefile", work / "Makefile")
    shutil.copytree(ROOT / "policy", work / "policy", ignore=shutil.ignore_patterns("venv", "__pycache__"))
    proc = subprocess.run(
        ["make", "policy-venv", f"PYTHON={sys.executable}"],
        cwd=work,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return work / "policy"


def test_the_cli_runs_a_local_pack_from_its_venv_and_never_creates_it() -> None:
    # pkg/resource/plugin/analyzer_plugin.go NewPolicyAnalyzer -> the language host's RunPlugin (kind
    # analyzer): ResolveToolchain(<pack dir>, virtualenv option) and `<pack>/venv/bin/python -u -m
    # pulumi.policy <engine> <pack dir>` with cmd.Dir = the pack directory. If the venv is missing, the pip
    # toolchain fails ("The 'virtualenv' option ... doesn't exist", pip.go NewVirtualEnvError): nothing there
    # installs requirements. So the venv must be built, and be where PulumiPolicy.yaml says.
    assert POLICY["runtime"] == {"name": "python", "options": {"virtualenv": "venv"}}
    assert "policy/venv/" in (ROOT / ".gitignore").read_text().splitlines()
    assert re.search(r"^\$\(POLICY_VENV\)/\.installed: policy/requirements.txt$", (ROOT / "Makefile").read_text(), re.M)
    assert "POLICY_VENV := policy/venv" in (ROOT / "Makefile").read_text()


def test_the_pack_venv_starts_pulumi_policy_and_serves_the_pack(policy_venv: Path) -> None:
    python = policy_venv / "venv" / "bin" / "python"
    assert python.exists()
    # The command line RunPlugin builds for a Python analyzer: -u -m pulumi.policy <engine address> <pack dir>.
    proc = subprocess.Popen(
        [str(python), "-u", "-m", "pulumi.policy", "127.0.0.1:1", str(policy_venv)],
        cwd=policy_venv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))},
    )
    try:
        port = (proc.stdout.readline() if proc.stdout else "").strip()  # PolicyPack prints its gRPC port
        assert port.isdigit(), f"the pack did not start: {port!r} {proc.stderr.read() if proc.stderr else ''}"
        policies = _analyzer_policies(int(port))
    finally:
        proc.kill()
        proc.wait(timeout=10)
    from ai_platform_policies import ALL_POLICIES

    assert sorted(policies) == sorted(p.name for p in ALL_POLICIES)


def _analyzer_policies(port: int) -> list[str]:
    """Ask the running analyzer for its policies, as the engine does (Analyzer.GetAnalyzerInfo)."""
    import grpc
    from google.protobuf import empty_pb2
    from pulumi.runtime.proto import analyzer_pb2_grpc

    deadline = time.monotonic() + 30
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        grpc.channel_ready_future(channel).result(timeout=max(1, deadline - time.monotonic()))
        info = analyzer_pb2_grpc.AnalyzerStub(channel).GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
    return [p.name for p in info.policies]
