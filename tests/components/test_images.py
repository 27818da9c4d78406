"""Image builds: docker.Image inputs under mocks, the build switch in the stacks, the Dockerfile pins."""

from __future__ import annotations

import json
import re
from dataclasses import replace

from blueprint.preview.engine import run_stack
from blueprint.preview.plan import Plan, is_secret
from blueprint.stackfiles import load_stack
from components.images import IMAGES_DIR, Images, ImagesArgs
from tests.components.harness import StandIns, run_program
from tests.conftest import stack_raw
from tests.fixtures import PROJECT

IMAGE = "docker:index/image:Image"


def test_build_pushes_to_the_registry_with_an_ecr_token() -> None:
    def program() -> None:
        s = StandIns()
        Images("images", ImagesArgs(images={"ci-runner": s.repositories["ci-runner"]}, tag="v1"))

    plan = run_program(program)
    image = plan.get(IMAGE, "images-ci-runner")
    assert image.inputs["imageName"] == "111111111111.dkr.ecr.us-west-2.amazonaws.com/ci-runner:v1"
    assert image.inputs["build"]["context"] == str(IMAGES_DIR / "ci-runner")
    assert image.inputs["build"]["platform"] == "linux/amd64"
    assert image.inputs["skipPush"] is False
    registry = image.inputs["registry"]
    registry = registry["value"] if is_secret(registry) else registry
    assert registry["server"] == "111111111111.dkr.ecr.us-west-2.amazonaws.com/ci-runner"
    assert registry["username"] == "AWS"
    assert is_secret(registry["password"]) or registry["password"] == "offline-token"
    assert plan.get("aws:ecr/repository:Repository", "repo-ci-runner").urn in image.dependencies


def _stack_with(stack: str, images: dict[str, object]) -> Plan:
    settings = load_stack(stack)
    config = dict(settings.config)
    config[f"{PROJECT}:images"] = json.dumps(images)
    return run_stack(stack, replace(settings, config=config))


def test_stacks_build_nothing_by_default_and_take_the_runner_digest(stack_plan: Plan) -> None:
    assert not stack_plan.by_type(IMAGE)
    sets = [
        r
        for r in stack_plan.by_type("kubernetes:helm.sh/v3:Release")
        if r.inputs["chart"].endswith("/gha-runner-scale-set")
    ]
    assert bool(sets) == bool(stack_raw(stack_plan.stack)["ciRunners"].get("enabled"))
    for r in sets:
        image = r.inputs["values"]["template"]["spec"]["containers"][0]["image"]
        assert re.fullmatch(r"\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com/ci-runner@sha256:[0-9a-f]{64}", image), image


def test_with_build_on_the_runners_use_the_pushed_digest() -> None:
    plan = _stack_with("dev", {"build": True, "modelServerRepository": "model-server"})
    built = {r.name: r for r in plan.by_type(IMAGE)}
    assert set(built) == {"images-ci-runner", "images-model-server"}
    digest = built["images-ci-runner"].outputs["repoDigest"]
    sets = [
        r for r in plan.by_type("kubernetes:helm.sh/v3:Release") if r.inputs["chart"].endswith("/gha-runner-scale-set")
    ]
    for r in sets:
        assert r.inputs["values"]["template"]["spec"]["containers"][0]["image"] == digest
        assert built["images-ci-runner"].urn in r.dependencies


def test_dockerfiles_pin_their_base_by_tag_and_digest() -> None:
    for dockerfile in IMAGES_DIR.glob("*/Dockerfile"):
        text = dockerfile.read_text()
        froms = [line for line in text.splitlines() if line.startswith("FROM ")]
        assert froms, dockerfile
        for line in froms:
            assert "@" in line, f"{dockerfile}: {line} is not pinned by digest"
            assert ":latest" not in line
        assert re.search(r"^ARG \w+_DIGEST=sha256:[0-9a-f]{64}$", text, re.M), dockerfile
        assert "\nUSER root" not in text.rsplit("USER", 1)[-1], f"{dockerfile} must not end as root"
        assert (dockerfile.parent / ".dockerignore").is_file()
