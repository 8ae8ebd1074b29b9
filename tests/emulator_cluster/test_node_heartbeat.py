"""The kubelet's heartbeats: it renews its Lease in kube-node-lease and re-posts its conditions.

Kubelet renews `kube-node-lease/<node>` every 10 s (a quarter of its 40 s duration). It computes
its node status every 10 s but posts it only when it changed or once 5 minutes have passed since
the last post; a post stamps `lastHeartbeatTime` on every condition, and only a change of status
moves `lastTransitionTime`. The cluster here beats every HEARTBEAT_S and reports every REPORT_S
instead (same objects, same fields).
"""

from __future__ import annotations

import asyncio
import datetime as dt

from gpuconf.emulator.cluster import fast_test_options, running_cluster
from gpuconf.emulator.kubelet.node import LEASE_NAMESPACE, HeartbeatTiming
from tests.emulator_cluster.storewait import wait_for_version

HEARTBEAT_S = 0.2
REPORT_S = 1.0
HEARTBEAT = HeartbeatTiming(
    lease_duration_s=40, lease_renew_s=HEARTBEAT_S, status_update_s=HEARTBEAT_S, status_report_s=REPORT_S
)
QUIET_S = 1.5  # several status syncs, all with nothing to post
LEASE_RENEWED_S = 5.0  # a few beats
# lastHeartbeatTime has whole seconds (RFC 3339), so it moves once the clock passes a second.
HEARTBEAT_ADVANCED_S = 5.0


def micro_time(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")


def seconds_time(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")


def ready(node: dict) -> dict:
    (condition,) = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
    return condition


def test_lease_renew_time_and_ready_heartbeat_advance() -> None:
    with running_cluster(options=fast_test_options(heartbeat=HEARTBEAT)) as cluster:
        api = cluster.cluster.api
        assert api is not None
        (name,) = cluster.node_names

        async def scenario() -> None:
            node = api.get("nodes", name)
            lease = api.get("leases", name, namespace=LEASE_NAMESPACE)
            assert lease["spec"]["holderIdentity"] == name
            assert lease["spec"]["leaseDurationSeconds"] == 40
            assert lease["metadata"]["ownerReferences"] == [
                {"apiVersion": "v1", "kind": "Node", "name": name, "uid": node["metadata"]["uid"]}
            ]
            first_renew = micro_time(lease["spec"]["renewTime"])
            renewed = await wait_for_version(
                api,
                "leases",
                lambda obj: (
                    obj["metadata"]["name"] == name and micro_time(obj["spec"]["renewTime"]) > first_renew
                ),
                since=int(lease["metadata"]["resourceVersion"]),
                timeout=LEASE_RENEWED_S,
                describe=f"{LEASE_NAMESPACE}/{name} renewed",
                namespace=LEASE_NAMESPACE,
            )
            assert renewed["metadata"]["uid"] == lease["metadata"]["uid"], "renewed in place, not re-created"
            assert renewed["spec"]["holderIdentity"] == name

            before = ready(node)
            assert (before["status"], before["reason"], before["message"]) == (
                "True",
                "KubeletReady",
                "kubelet is posting ready status",
            )
            beat = await wait_for_version(
                api,
                "nodes",
                lambda obj: (
                    obj["metadata"]["name"] == name
                    and seconds_time(ready(obj)["lastHeartbeatTime"])
                    > seconds_time(before["lastHeartbeatTime"])
                ),
                since=int(node["metadata"]["resourceVersion"]),
                timeout=HEARTBEAT_ADVANCED_S,
                describe=f"{name}'s Ready heartbeat to advance",
            )
            after = ready(beat)
            assert (after["status"], after["reason"]) == ("True", "KubeletReady")
            assert after["lastTransitionTime"] == before["lastTransitionTime"], "a heartbeat is no transition"
            stamps = {c["type"]: c["lastHeartbeatTime"] for c in beat["status"]["conditions"]}
            assert set(stamps) == {"MemoryPressure", "DiskPressure", "PIDPressure", "Ready"}
            assert set(stamps.values()) == {after["lastHeartbeatTime"]}, "every condition beats together"

        cluster.run(scenario, timeout=LEASE_RENEWED_S + HEARTBEAT_ADVANCED_S + 5)


def test_an_unchanged_status_is_not_posted_until_the_report_period_and_a_change_is_posted_at_once() -> None:
    quiet = HeartbeatTiming(lease_duration_s=40, lease_renew_s=HEARTBEAT_S, status_update_s=HEARTBEAT_S)
    with running_cluster(options=fast_test_options(heartbeat=quiet)) as cluster:
        api = cluster.cluster.api
        assert api is not None
        (name,) = cluster.node_names
        kubelet = cluster.cluster.kubelet(name)

        async def scenario() -> None:
            node = api.get("nodes", name)
            lease = api.get("leases", name, namespace=LEASE_NAMESPACE)
            await asyncio.sleep(QUIET_S)
            assert (
                api.get("nodes", name)["metadata"]["resourceVersion"] == node["metadata"]["resourceVersion"]
            ), "nothing changed: no status post within the 300 s report period"
            renewed = api.get("leases", name, namespace=LEASE_NAMESPACE)
            assert renewed["spec"]["renewTime"] != lease["spec"]["renewTime"], "the Lease is the heartbeat"

            kubelet.node.set_extended_resource("example.com/widget", 2, 2)
            changed = api.get("nodes", name)
            assert changed["metadata"]["resourceVersion"] != node["metadata"]["resourceVersion"]
            assert changed["status"]["allocatable"]["example.com/widget"] == "2"

        cluster.run(scenario, timeout=QUIET_S + 10)
