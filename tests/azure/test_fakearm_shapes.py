"""The fake ARM answers in the shapes of the official REST examples (gpuconf/azure/arm_examples/)."""

from __future__ import annotations

import json
import urllib.request
from importlib import resources
from typing import Any

import pytest

from gpuconf.azure.fakearm import FakeArmBehaviour, running_fake_arm

API = "api-version=2026-08-01"
SUB = "/subscriptions/00000000-0000-0000-0000-000000000000"
MC = f"{SUB}/resourceGroups/rg1/providers/Microsoft.ContainerService/managedClusters/clustername1"
HTTP_TIMEOUT_S = 5


def example(name: str) -> dict[str, Any]:
    text = resources.files("gpuconf.azure").joinpath("arm_examples", name).read_text()
    return json.loads(text)


def call(base: str, method: str, path: str, body: Any = None) -> tuple[int, dict[str, str], Any]:
    data = json.dumps(body).encode() if body is not None else None
    sep = "&" if "?" in path else "?"
    request = urllib.request.Request(f"{base}{path}{sep}{API}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
            raw = response.read()
            return response.status, dict(response.headers), json.loads(raw) if raw else None
    except urllib.error.HTTPError as err:
        raw = err.read()
        return err.code, dict(err.headers), json.loads(raw) if raw else None


def keys(obj: dict[str, Any]) -> set[str]:
    return set(obj)


@pytest.fixture
def arm():
    with running_fake_arm(FakeArmBehaviour(in_progress_polls=1)) as server:
        yield server.url


def test_agent_pool_put_answers_201_creating_with_an_async_operation_to_poll(arm):
    ex = example("AgentPoolsCreate_ManagedGPU.json")
    call(arm, "PUT", f"{SUB}/resourcegroups/rg1", {"location": "eastus"})
    call(arm, "PUT", MC, {"location": "eastus", "properties": {"agentPoolProfiles": []}})
    status, headers, body = call(arm, "PUT", f"{MC}/agentPools/agentpool1", ex["parameters"]["parameters"])
    assert status == 201
    expected = ex["responses"]["201"]["body"]
    assert keys(expected) <= keys(body) and body["type"] == expected["type"] and body["id"] == expected["id"]
    assert body["properties"] == expected["properties"]  # same properties, provisioningState Creating
    operation_path = headers["Azure-AsyncOperation"].split(arm, 1)[1].split("?")[0]
    op_example = example("OperationStatusResultGetByAgentPool.json")["responses"]["200"]["body"]
    first = call(arm, "GET", operation_path)[2]
    assert keys(op_example) - {"operationType", "subOperationType"} <= keys(first)
    assert first["status"] == "InProgress"
    assert call(arm, "GET", operation_path)[2]["status"] == "Succeeded"
    assert (
        call(arm, "GET", f"{MC}/agentPools/agentpool1")[2]["properties"]["provisioningState"] == "Succeeded"
    )


def test_deletes_answer_202_with_a_location_then_204(arm):
    ex = example("ManagedClustersDelete.json")["responses"]
    call(arm, "PUT", f"{SUB}/resourcegroups/rg1", {"location": "eastus"})
    call(arm, "PUT", MC, {"location": "eastus", "properties": {"agentPoolProfiles": []}})
    status, headers, _ = call(arm, "DELETE", MC)
    assert status == 202 and set(ex) == {"202", "204"}
    assert "/operationresults/" in headers["Location"]
    poll = headers["Location"].split(arm, 1)[1].split("?")[0]
    assert call(arm, "GET", poll)[0] == 202
    assert call(arm, "GET", poll)[0] == 204
    assert call(arm, "DELETE", MC)[0] == 204  # already gone


def test_user_credentials_and_groups_have_the_example_shapes(arm):
    group_example = example("CreateResourceGroup.json")["responses"]["201"]["body"]
    status, _, group = call(arm, "PUT", f"{SUB}/resourcegroups/rg1", {"location": "eastus"})
    assert status == 201 and keys(group_example) <= keys(group)
    call(arm, "PUT", MC, {"location": "eastus", "properties": {"agentPoolProfiles": []}})
    creds_example = example("ManagedClustersListClusterUserCredentials.json")["responses"]["200"]["body"]
    creds = call(arm, "POST", f"{MC}/listClusterUserCredential")[2]
    assert keys(creds_example["kubeconfigs"][0]) == keys(creds["kubeconfigs"][0])
    cluster_example = example("ManagedClustersGet.json")["responses"]["200"]["body"]
    cluster = call(arm, "GET", MC)[2]
    assert {"id", "name", "type", "location", "properties"} <= keys(cluster) & keys(cluster_example)
    assert cluster["type"].lower() == cluster_example["type"].lower()


def test_requests_without_api_version_are_refused_like_arm_does(arm):
    request = urllib.request.Request(f"{arm}{SUB}/resourcegroups", method="GET")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S)
    assert err.value.code == 400
    assert json.loads(err.value.read())["error"]["code"] == "MissingApiVersionParameter"
