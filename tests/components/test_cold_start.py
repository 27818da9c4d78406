"""The cold-start estimate (components/cold_start.py): parts by path, and the waits derived from it."""

from __future__ import annotations

import math

import pytest

from components import cold_start as cs

KARPENTER_SOCI = cs.NodePath("gpu", "g5", "karpenter", "lazy")
AUTOSCALED_PLAIN = cs.NodePath("gpu", "g5", "cluster-autoscaler", "plain")


def inputs(**over: object) -> cs.ColdStartInputs:
    base: dict[str, object] = {
        "image_size_gib": 9.5,
        "weights_size_gib": 16.0,
        "load": "streaming",
        "node": KARPENTER_SOCI,
        "activation_seconds": 15.0,
        "warm_spare": None,
    }
    return cs.ColdStartInputs(**{**base, **over})  # type: ignore[arg-type]


def test_a_node_from_zero_adds_the_provisioner_the_boot_and_the_device_plugin() -> None:
    est = cs.estimate(inputs())
    boot = cs.PROVISIONER_REACTION["karpenter"].seconds + cs.NODE_READY["g"].seconds
    assert est.parts["nodeProvisioning"] == boot
    assert est.parts["devicePlugin"] == cs.DEVICE_PLUGIN.seconds
    assert est.seconds == pytest.approx(sum(est.parts.values()))
    slower = cs.estimate(inputs(node=AUTOSCALED_PLAIN))
    assert slower.parts["nodeProvisioning"] > est.parts["nodeProvisioning"]


@pytest.mark.parametrize(("pull", "faster_than"), [("lazy", "plain"), ("cached", "lazy")])
def test_each_image_pull_path_is_faster_than_the_last(pull: cs.PullPath, faster_than: cs.PullPath) -> None:
    def pull_of(p: cs.PullPath) -> float:
        return cs.estimate(inputs(node=cs.NodePath("gpu", "g5", "karpenter", p))).parts["imagePull"]

    assert pull_of(pull) < pull_of(faster_than)
    assert pull_of("cached") == cs.IMAGE_PULL_FLOOR.seconds


def test_a_warm_spare_replaces_the_node_with_a_preemption_and_a_cached_image() -> None:
    est = cs.estimate(inputs(warm_spare="llm-warm-spare"))
    assert "nodeProvisioning" not in est.parts
    assert est.parts["preemption"] == cs.PREEMPTION.seconds
    assert est.paths["pull"] == "cached"
    assert "llm-warm-spare" in est.paths["provisioner"]


def test_a_warm_pool_needs_no_provisioning_but_still_pulls() -> None:
    est = cs.estimate(inputs(node=cs.NodePath("gpu", "g5", "cluster-autoscaler", "plain", warm=True)))
    assert "nodeProvisioning" not in est.parts
    assert est.parts["imagePull"] > cs.IMAGE_PULL_FLOOR.seconds


def test_copying_the_weights_is_bound_by_the_node_volume_and_streaming_has_no_copy() -> None:
    slow = cs.estimate(inputs(load="copy-then-start", node=cs.NodePath("g", "g5", "karpenter", volume_mibps=125)))
    fast = cs.estimate(inputs(load="copy-then-start", node=cs.NodePath("g", "g5", "karpenter", volume_mibps=1000)))
    assert slow.parts["weightsCopy"] == pytest.approx(16 * 1024 / 125)
    assert fast.parts["weightsCopy"] == pytest.approx(16 * 1024 / cs.S3_COPY_MIBPS.seconds)  # S3 binds then
    assert "weightsCopy" not in cs.estimate(inputs()).parts


def test_the_startup_probe_covers_load_and_init_with_the_margin_in_whole_periods() -> None:
    est = cs.estimate(inputs(weights_size_gib=80.0))
    budget = cs.startup_budget_seconds(est, 10)
    assert budget % 10 == 0
    assert cs.PROBE_MARGIN * est.probe_covered_seconds <= budget < cs.PROBE_MARGIN * est.probe_covered_seconds + 10
    # A small model still gets the floor: a slow registry or a cold page cache is not a reason to restart.
    tiny = cs.estimate(inputs(weights_size_gib=0.0, load="in-image"))
    assert cs.startup_budget_seconds(tiny, 10) == cs.PROBE_FLOOR_SECONDS


def test_unknown_sizes_fall_back_to_the_long_waits() -> None:
    est = cs.estimate(inputs(weights_size_gib=None))
    assert est.undeclared == ("weightsSizeGiB",)
    assert cs.startup_budget_seconds(est, 10) == cs.UNDECLARED_PROBE_SECONDS
    assert cs.deploy_timeout_seconds(inputs(image_size_gib=None), [KARPENTER_SOCI], 2, cap=5400) == 5400
    # Weights in the image need no weights size.
    assert cs.estimate(inputs(weights_size_gib=None, load="in-image")).undeclared == ()


def test_the_deploy_await_covers_the_slowest_pool_from_zero_then_each_replica() -> None:
    i = inputs()
    one = cs.rollout_seconds(i, [KARPENTER_SOCI], 1)
    four = cs.rollout_seconds(i, [KARPENTER_SOCI], 4)
    pod = cs.estimate(inputs(node=KARPENTER_SOCI)).pod_start_seconds
    assert four - one == pytest.approx(3 * pod)
    both = cs.rollout_seconds(i, [KARPENTER_SOCI, AUTOSCALED_PLAIN], 4)
    assert both == cs.rollout_seconds(i, [AUTOSCALED_PLAIN], 4) > four
    assert cs.deploy_timeout_seconds(i, [KARPENTER_SOCI], 4, cap=10**6) == math.ceil(cs.TIMEOUT_MARGIN * four)
    assert cs.deploy_timeout_seconds(i, [KARPENTER_SOCI], 4, cap=600) == 600


def test_an_explicit_probe_budget_above_the_estimate_lengthens_the_await() -> None:
    i = inputs()
    base = cs.rollout_seconds(i, [KARPENTER_SOCI], 2)
    longer = cs.rollout_seconds(i, [KARPENTER_SOCI], 2, probe_budget=1200)
    covered = cs.estimate(i).probe_covered_seconds
    assert longer - base == pytest.approx(2 * (1200 - covered))


def test_no_pool_or_no_provisioner_never_produces_a_finite_wait() -> None:
    stuck = cs.NodePath("gpu", "g5", None)
    assert math.isinf(cs.estimate(inputs(node=stuck)).seconds)
    assert cs.deploy_timeout_seconds(inputs(), [stuck], 1, cap=5400) == 5400
    # Unknown pools: the slowest path there is, so the wait errs long.
    assert cs.rollout_seconds(inputs(), [], 1) == cs.rollout_seconds(inputs(), [cs.UNKNOWN_NODE], 1)
