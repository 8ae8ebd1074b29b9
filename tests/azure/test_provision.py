"""Provisioning and teardown against the loopback fake ARM, driven by the real Azure SDK."""

from __future__ import annotations

import dataclasses
import stat

import pytest

from gpuconf.azure.fakearm import FakeArmServer
from gpuconf.azure.operations import ProgressLog
from gpuconf.backends.base import PROVISIONS_NODES, REAL_GPU


def kinds(fake_arm: FakeArmServer, method: str) -> list[str]:
    return [r.kind for r in fake_arm.fake.state.requests_of(method)]


def test_happy_path_creates_tagged_group_cluster_and_gpu_pool_then_deletes_them_in_reverse(
    fake_arm, backend_for
):
    fake_arm.fake.behaviour.kubeconfig = b"apiVersion: v1\nkind: Config\n# from the fake ARM\n"
    backend = backend_for()
    handle = backend.provision()
    state = fake_arm.fake.state

    (group,) = state.groups.values()
    assert group["tags"]["created-by"] == "gpuconf"
    assert group["tags"]["owner"] == "tester"
    assert group["tags"]["expires-at"].endswith("Z")
    (cluster,) = state.clusters.values()
    assert cluster["properties"]["provisioningState"] == "Succeeded"
    system = cluster["properties"]["agentPoolProfiles"]
    assert [(p["mode"], p["vmSize"]) for p in system] == [("System", "Standard_D2s_v3")]
    gpu = state.pools[(group["name"].lower(), cluster["name"], "gpu")]["properties"]
    assert gpu["vmSize"] == "Standard_NC4as_T4_v3"
    assert gpu["gpuProfile"] == {"driver": "Install"}
    assert gpu["nodeTaints"] == ["sku=gpu:NoSchedule"]

    assert handle.kubeconfig.read_bytes() == fake_arm.fake.behaviour.kubeconfig
    assert stat.S_IMODE(handle.kubeconfig.stat().st_mode) == 0o600
    assert stat.S_IMODE(handle.kubeconfig.parent.stat().st_mode) == 0o700
    assert handle.has(PROVISIONS_NODES) and handle.has(REAL_GPU)
    assert handle.properties["aks.gpu_pools"] == "gpu=Standard_NC4as_T4_v3"
    assert handle.properties["aks.gpus_per_node"] == "Standard_NC4as_T4_v3=1"
    assert "kubeconfig" not in str(handle.properties).lower()

    backend.teardown()
    assert kinds(fake_arm, "DELETE") == ["agentPool", "managedCluster", "resourceGroup"]
    assert not state.groups and not state.clusters and not state.pools
    assert not handle.kubeconfig.parent.exists()


def test_operations_reporting_in_progress_several_times_are_polled_to_the_end(
    fake_arm, backend_for, progress
):
    fake_arm.fake.behaviour.in_progress_polls = 4
    backend_for().provision()
    polls = [r.path for r in fake_arm.fake.state.requests_of("GET", "operation")]
    per_operation = {path: polls.count(path) for path in polls}
    assert len(per_operation) == 2  # the cluster and the GPU pool
    assert all(count == 5 for count in per_operation.values()), per_operation  # 4 x InProgress + Succeeded
    lines = progress.stream.getvalue().splitlines()  # type: ignore[union-attr]
    assert any("creating GPU node pool gpu" in line and "state InProgress" in line for line in lines), lines


def test_throttling_429_and_unavailable_503_are_retried(fake_arm, backend_for):
    fake_arm.fake.behaviour.faults = {
        "PUT managedCluster": [429],
        "PUT agentPool": [503, 429],
        "GET operation": [503],
        "POST credentials": [429],
    }
    backend_for().provision()
    assert kinds(fake_arm, "PUT").count("managedCluster") == 2
    assert kinds(fake_arm, "PUT").count("agentPool") == 3
    assert all(not queue for queue in fake_arm.fake.behaviour.faults.values())


def test_a_gpu_pool_that_ends_failed_fails_the_run_and_the_group_is_still_deleted(fake_arm, backend_for):
    from gpuconf.azure.verdicts import ArmOperationFailed

    fake_arm.fake.behaviour.failing_pools = {
        "gpu": "VM extension Microsoft.Azure.Extensions.CustomScript failed"
    }
    backend = backend_for()
    with pytest.raises(
        ArmOperationFailed, match=r"ReconcileVMSSAgentPoolFailed: VM extension .* failed"
    ) as err:
        backend.provision()
    assert "creating GPU node pool gpu (Standard_NC4as_T4_v3)" in str(err.value)
    assert kinds(fake_arm, "DELETE")[-1] == "resourceGroup"
    assert not fake_arm.fake.state.groups


def test_gpu_pools_of_a_sku_matrix_are_created_in_parallel(fake_arm, backend_for):
    fake_arm.fake.behaviour.create_latency_s = 0.3
    sizes = [
        "Standard_NC4as_T4_v3",
        "Standard_NC8as_T4_v3",
        "Standard_NC24ads_A100_v4",
        "Standard_NC40ads_H100_v5",
    ]
    handle = backend_for(aks_vm_size=sizes).provision()
    requests = fake_arm.fake.state.requests
    pool_puts = [i for i, r in enumerate(requests) if r.method == "PUT" and r.kind == "agentPool"]
    first_pool_done = min(i for i, r in enumerate(requests) if r.method == "GET" and r.kind == "agentPool")
    # Every pool's PUT went out before any pool finished: they ran side by side, not one after another.
    assert len(pool_puts) == 4 and max(pool_puts) < first_pool_done
    assert handle.properties["aks.gpu_pools"] == ",".join(f"gpu{i + 1}={s}" for i, s in enumerate(sizes))


def test_reuse_mode_creates_and_deletes_nothing_in_azure(fake_arm, backend_for, subscription):
    pools = {"sys": "Standard_D4s_v3", "gpu": "Standard_NC4as_T4_v3"}
    fake_arm.fake.state.seed_cluster(subscription, "team-rg", "team-aks", "westeurope", pools)
    backend = backend_for(aks_existing_cluster="team-rg/team-aks")
    handle = backend.provision()
    assert not handle.has(PROVISIONS_NODES)
    assert handle.properties["aks.mode"] == "reused"
    assert handle.properties["aks.gpu_pools"] == "gpu=Standard_NC4as_T4_v3"  # the CPU system pool is left out
    assert handle.kubeconfig.exists()
    backend.teardown()
    assert fake_arm.fake.state.mutating_requests() == []
    assert ("team-rg", "team-aks") in fake_arm.fake.state.clusters
    assert not handle.kubeconfig.exists()


def test_custom_headers_reach_only_the_gpu_pool_put(fake_arm, backend_for):
    backend = backend_for(aks_custom_headers="X-Gpuconf-Probe=1,EnableAzureDiskFileCSIDriver=true")
    backend.provision()
    backend.teardown()
    carrying = [(r.method, r.kind) for r in fake_arm.fake.state.requests if "X-Gpuconf-Probe" in r.headers]
    assert carrying == [("PUT", "agentPool")]
    assert len(fake_arm.fake.state.requests) > 10  # polls, GETs, credentials and deletes went without it


def test_keep_cluster_leaves_azure_resources_but_removes_the_kubeconfig(fake_arm, backend_for):
    backend = backend_for(aks_keep_cluster=True)
    handle = backend.provision()
    backend.teardown()
    assert kinds(fake_arm, "DELETE") == []
    assert len(fake_arm.fake.state.groups) == 1
    assert not handle.kubeconfig.exists()


def test_progress_lines_are_one_line_each_and_name_the_operation(fake_arm, settings_for):
    import io

    from gpuconf.backends.aks import AksBackend

    stream = io.StringIO()
    backend = AksBackend(settings_for(), progress=ProgressLog(stream=stream))
    backend.provision()
    backend.teardown()
    lines = stream.getvalue().splitlines()
    assert lines and all(line.startswith("[gpuconf aks] ") for line in lines)
    assert any(
        line.startswith("[gpuconf aks] creating AKS cluster") and "Succeeded after" in line for line in lines
    )
    assert any("deleting resource group" in line for line in lines)


def test_a_resource_group_the_user_already_has_is_used_but_never_deleted(fake_arm, backend_for, subscription):
    fake_arm.fake.state.seed_group(subscription, "team-rg", "eastus", {"cost-center": "42"})
    backend = backend_for(aks_resource_group="team-rg")
    backend.provision()
    backend.teardown()
    assert kinds(fake_arm, "DELETE") == ["agentPool", "managedCluster"]
    assert fake_arm.fake.state.groups["team-rg"]["tags"] == {"cost-center": "42"}  # not retagged either
    assert not fake_arm.fake.state.clusters


def test_gpu_driver_none_asks_aks_not_to_install_drivers(fake_arm, backend_for):
    backend_for(aks_gpu_driver="none").provision()
    (put,) = fake_arm.fake.state.requests_of("PUT", "agentPool")
    assert put.body["properties"]["gpuProfile"] == {"driver": "None"}


def test_an_operation_past_its_timeout_fails_naming_it_and_everything_is_deleted(
    fake_arm, settings_for, progress
):
    from gpuconf.azure.verdicts import ArmTimeout
    from gpuconf.backends.aks import AksBackend

    fake_arm.fake.behaviour.create_latency_for = {"pool": 3600.0}
    backend = AksBackend(dataclasses.replace(settings_for(), operation_timeout_s=0.3), progress=progress)
    with pytest.raises(
        ArmTimeout, match=r"creating GPU node pool gpu .* failed: ARM Timeout: still InProgress after 0.3 s"
    ):
        backend.provision()
    assert not fake_arm.fake.state.groups
