"""Doc-drift rules: each fires on the article's own instruction and stays silent on today's practice."""

from __future__ import annotations

from datetime import date

import pytest

from gpuconf.checks.article import (
    ARTICLE_DEVICE_PLUGIN_IMAGE,
    ARTICLE_VM_SIZE,
    ARTICLE_WORKLOAD_IMAGE,
    SECTION_ORDER,
)
from gpuconf.checks.drift import RULES, DriftFacts, evaluate

TODAY = date(2026, 11, 28)


def rule_ids(facts: DriftFacts) -> list[str]:
    return [f.rule_id for f in evaluate(facts)]


def test_following_the_article_verbatim_trips_every_rule():
    facts = DriftFacts(
        vm_size=ARTICLE_VM_SIZE,
        custom_headers={"UseGPUDedicatedVHD": "true"},
        device_plugin_image=ARTICLE_DEVICE_PLUGIN_IMAGE,
        workload_image=ARTICLE_WORKLOAD_IMAGE,
        gpu_compute_capability="8.0",
        server_version="v1.33.2",
        today=TODAY,
    )
    assert rule_ids(facts) == [r.rule_id for r in RULES]
    for finding in evaluate(facts):
        assert finding.article_section in SECTION_ORDER
        assert finding.message.startswith(f"[{finding.rule_id}] ") and "\n" not in finding.message
        assert finding.source and finding.instruction


def test_todays_documented_setup_has_no_drift():
    facts = DriftFacts(
        vm_size="Standard_NC4as_T4_v3",
        device_plugin_image="nvcr.io/nvidia/k8s-device-plugin:v0.18.0",
        workload_image="example.azurecr.io/mnist:cuda12",
        gpu_compute_capability="7.5",
        today=TODAY,
    )
    assert evaluate(facts) == []


def test_no_facts_no_findings():
    assert evaluate(DriftFacts(today=TODAY)) == []


@pytest.mark.parametrize(
    ("size", "day", "fires", "retired_on"),
    [
        ("Standard_NC6", TODAY, True, date(2023, 8, 31)),
        ("nc6", date(2020, 8, 21), False, None),  # not yet retired when the article was written
        ("Standard_NC6s_v3", TODAY, True, date(2025, 9, 30)),
        ("Standard_NC6s_v3", date(2025, 9, 29), False, None),
        ("Standard_NV6", TODAY, True, date(2023, 9, 6)),
        ("Standard_NC24ads_A100_v4", TODAY, False, None),
        ("Standard_Unknown_v9", TODAY, False, None),  # unknown sizes are not drift
    ],
)
def test_retired_vm_size(size, day, fires, retired_on):
    findings = [f for f in evaluate(DriftFacts(vm_size=size, today=day)) if f.rule_id == "retired-vm-size"]
    assert bool(findings) == fires
    if fires:
        assert findings[0].changed_on == retired_on


@pytest.mark.parametrize(
    ("headers", "fires"),
    [
        ({"UseGPUDedicatedVHD": "true"}, True),
        ({"usegpudedicatedvhd": "True", "usegen2vm": "true"}, True),
        ({"UseGPUDedicatedVHD": "false"}, False),
        ({"usegen2vm": "true"}, False),
    ],
)
def test_retired_dedicated_vhd_header(headers, fires):
    assert ("retired-gpu-dedicated-vhd" in rule_ids(DriftFacts(custom_headers=headers))) == fires


@pytest.mark.parametrize(
    ("image", "fires"),
    [
        ("mcr.microsoft.com/oss/nvidia/k8s-device-plugin:1.11", True),
        ("nvidia/k8s-device-plugin:1.0.0-beta4", True),
        ("nvcr.io/nvidia/k8s-device-plugin:v0.14.1", True),
        ("nvcr.io/nvidia/k8s-device-plugin:v0.18.0", False),
        ("nvcr.io/nvidia/k8s-device-plugin:v0.20.0", False),
        ("nvcr.io/nvidia/k8s-device-plugin:latest", False),  # unknown age: no guess
        ("localhost/gpuconf-fake-device-plugin:dev", False),
    ],
)
def test_device_plugin_image_age(image, fires):
    assert ("device-plugin-image-outdated" in rule_ids(DriftFacts(device_plugin_image=image))) == fires


@pytest.mark.parametrize(
    ("capability", "fires"),
    [("3.7", False), ("6.1", False), ("7.0", True), ("9.0", True), ("garbage", False)],
)
def test_cuda8_image_on_gpu_newer_than_cuda8(capability, fires):
    facts = DriftFacts(workload_image=ARTICLE_WORKLOAD_IMAGE, gpu_compute_capability=capability)
    assert ("cuda8-image-on-new-gpu" in rule_ids(facts)) == fires


def test_kubernetes_floor_only_when_server_version_known():
    assert "kubernetes-version-floor" not in rule_ids(DriftFacts())
    [finding] = evaluate(DriftFacts(server_version="v1.34.1+aks"))
    assert finding.rule_id == "kubernetes-version-floor"
    assert finding.observed == "the cluster runs Kubernetes 1.34; the article's floor is 1.10"
    assert finding.to_dict()["changed_on"] == "2019-10-25"


def test_a_finding_survives_its_trip_as_json_from_an_xdist_worker():
    import json

    from gpuconf.checks.drift import DriftFacts, DriftFinding, evaluate

    for finding in evaluate(DriftFacts(vm_size="Standard_NC6", device_plugin_image="x:1.11")):
        assert DriftFinding.from_dict(json.loads(json.dumps(finding.to_dict()))) == finding
