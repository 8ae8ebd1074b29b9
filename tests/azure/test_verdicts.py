"""ARM refusals and failures become the suite's verdicts (doc-drift, unavailable, fail) with ARM's words."""

from __future__ import annotations

import pytest

from gpuconf.azure.verdicts import ArmOperationFailed
from gpuconf.backends.base import BackendUnavailable, DocDrift


def test_the_articles_2020_instructions_are_refused_as_a_retired_size_drift(fake_arm, backend_for):
    backend = backend_for(aks_doc_profile="2020")
    with pytest.raises(DocDrift) as err:
        backend.provision()
    assert err.value.rule == "retired-vm-size"
    assert "nodepool1: Standard_NC6" in err.value.message
    assert "is not allowed in your subscription in location 'eastus'" in err.value.message
    (cluster_put,) = fake_arm.fake.state.requests_of("PUT", "managedCluster")
    # The article verbatim: one NC6 node, and its header on the cluster PUT.
    assert cluster_put.body["properties"]["agentPoolProfiles"][0]["vmSize"] == "Standard_NC6"
    assert cluster_put.headers["UseGPUDedicatedVHD"] == "true"
    assert not fake_arm.fake.state.groups  # the group made for the attempt is gone


def test_a_retired_size_in_the_sku_matrix_is_doc_drift(fake_arm, backend_for):
    with pytest.raises(DocDrift, match=r"gpu2 \(Standard_NC6s_v3\).*not allowed") as err:
        backend_for(aks_vm_size=["Standard_NC4as_T4_v3", "Standard_NC6s_v3"]).provision()
    assert err.value.rule == "retired-vm-size"
    assert not fake_arm.fake.state.groups


def test_the_retired_gpu_image_header_is_doc_drift(fake_arm, backend_for):
    with pytest.raises(DocDrift, match="UseGPUDedicatedVHD") as err:
        backend_for(aks_custom_headers="UseGPUDedicatedVHD=true").provision()
    assert err.value.rule == "retired-gpu-dedicated-vhd"


def test_quota_exceeded_is_unavailable_with_the_quota_message(fake_arm, backend_for):
    fake_arm.fake.behaviour.quota_exhausted_sizes = frozenset({"Standard_NC24ads_A100_v4"})
    with pytest.raises(
        BackendUnavailable, match=r"quota exceeded: ErrCode_InsufficientVCPUQuota: Insufficient"
    ):
        backend_for(aks_vm_size=["Standard_NC24ads_A100_v4"]).provision()
    assert not fake_arm.fake.state.groups


def test_any_other_arm_error_fails_with_its_code_and_message(fake_arm, backend_for):
    fake_arm.fake.behaviour.faults = {"PUT managedCluster": [409]}
    with pytest.raises(
        ArmOperationFailed, match=r"creating AKS cluster .* failed: ARM Conflict: injected 409"
    ):
        backend_for().provision()


def test_a_rejected_static_token_is_one_line_naming_it(fake_arm, settings_for, progress):
    from gpuconf.backends.aks import AksBackend

    settings = settings_for(environ={"GPUCONF_ARM_TOKEN": "expired-token"})
    with pytest.raises(BackendUnavailable) as err:
        AksBackend(settings, progress=progress).provision()
    assert str(err.value) == (
        "Azure authentication failed: ARM rejected GPUCONF_ARM_TOKEN (static bearer token); refresh the token"
    )


def test_default_credential_failure_is_one_line_naming_the_chain(
    fake_arm, settings_for, progress, monkeypatch, tmp_path
):
    from gpuconf.backends.aks import AksBackend

    # Keep DefaultAzureCredential offline: developer credentials only (no managed identity probe),
    # no Azure CLI on PATH, an empty home, and the IMDS host pointed at a closed loopback port.
    for name in [n for n in __import__("os").environ if n.startswith(("AZURE_", "MSI_", "IDENTITY_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "dev")
    monkeypatch.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://127.0.0.1:9")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    settings = settings_for(environ={})
    with pytest.raises(BackendUnavailable) as err:
        AksBackend(settings, progress=progress).provision()
    line = str(err.value)
    assert "\n" not in line
    assert line.startswith("Azure authentication failed: DefaultAzureCredential tried ")
    assert "AzureCliCredential" in line and "GPUCONF_ARM_TOKEN" in line
    assert fake_arm.fake.state.requests == []  # no token, so nothing was sent
