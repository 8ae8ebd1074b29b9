"""Real kubectl (fresh --cache-dir per test) drives the embedded API server: every test runs with the
pinned v1.37 and, where one is on PATH, another kubectl version (ids `kubectl-<version>`)."""

from __future__ import annotations

import json
import queue
import re
import subprocess
import threading
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest

from gpuconf.emulator import store as store_module
from gpuconf.emulator.testing import ServerHandle
from tests.emulator_api.conftest import (
    CASCADE_TIMEOUT_S,
    DAEMONSET_MANIFEST,
    JOB_MANIFEST,
    WATCH_TIMEOUT_S,
    wait_for_open_watch,
)
from tests.emulator_api.file_logs import FileLogProvider
from tests.emulator_cluster.kubectl import Kubectl

DS = "daemonset/nvidia-device-plugin-daemonset"


def test_article_install_steps_verbatim(kubectl: Kubectl):
    assert kubectl.out("create", "namespace", "gpu-resources").strip() == "namespace/gpu-resources created"
    applied = kubectl.out("apply", "-f", str(DAEMONSET_MANIFEST))
    assert applied.strip() == "daemonset.apps/nvidia-device-plugin-daemonset created"
    again = kubectl.out("apply", "-f", str(DAEMONSET_MANIFEST))
    assert again.strip() == "daemonset.apps/nvidia-device-plugin-daemonset unchanged"
    table = kubectl.out("get", "daemonsets", "-n", "gpu-resources").splitlines()
    assert table[0].split() == [
        "NAME",
        "DESIRED",
        "CURRENT",
        "READY",
        "UP-TO-DATE",
        "AVAILABLE",
        "NODE",
        "SELECTOR",
        "AGE",
    ]
    assert table[1].split()[:7] == ["nvidia-device-plugin-daemonset", "0", "0", "0", "0", "0", "<none>"]
    described = kubectl.out("describe", "-n", "gpu-resources", DS)
    assert "mcr.microsoft.com/oss/nvidia/k8s-device-plugin:1.11" in described
    assert "/var/lib/kubelet/device-plugins" in described


def test_label_patch_and_output_formats(kubectl: Kubectl):
    kubectl.run("create", "namespace", "gpu-resources")
    kubectl.run("apply", "-f", str(DAEMONSET_MANIFEST))
    kubectl.run("label", "-n", "gpu-resources", DS, "tier=gpu")
    kubectl.run("patch", "-n", "gpu-resources", DS, "--type=merge", "-p", '{"spec":{"minReadySeconds":3}}')
    obj = kubectl.json("get", "-n", "gpu-resources", DS)
    assert obj["metadata"]["labels"] == {"tier": "gpu"}
    assert obj["spec"]["minReadySeconds"] == 3 and obj["metadata"]["generation"] == 2
    image = kubectl.out(
        "get", "-n", "gpu-resources", DS, "-o", "jsonpath={.spec.template.spec.containers[0].image}"
    )
    assert image == "mcr.microsoft.com/oss/nvidia/k8s-device-plugin:1.11"
    listed = kubectl.out("get", "ds", "-A", "-l", "tier=gpu", "-o", "name")
    assert listed.strip() == "daemonset.apps/nvidia-device-plugin-daemonset"
    bad = kubectl.run(
        "patch",
        "-n",
        "gpu-resources",
        DS,
        "--type=json",
        "-p",
        '[{"op":"remove","path":"/nope"}]',
        check=False,
    )
    assert bad.returncode != 0 and "the server rejected our request" in bad.stderr


def test_job_table_and_pod_status_column(kubectl: Kubectl, api_server: ServerHandle):
    kubectl.run("apply", "-f", str(JOB_MANIFEST))
    header, row = kubectl.out("get", "jobs").splitlines()
    assert header.split() == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    assert row.split()[:3] == ["samples-tf-mnist-demo", "Running", "0/1"]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "samples-tf-mnist-demo-abcde", "labels": {"app": "samples-tf-mnist-demo"}},
        "spec": {"containers": [{"name": "samples-tf-mnist-demo", "image": "x:1"}]},
    }
    kubectl.apply(json.dumps(pod))
    terminated = {"terminated": {"exitCode": 0, "reason": "Completed"}}
    status = {
        "phase": "Succeeded",
        "containerStatuses": [
            {
                "name": "samples-tf-mnist-demo",
                "ready": False,
                "restartCount": 0,
                "image": "x:1",
                "imageID": "",
                "state": terminated,
            }
        ],
    }
    pod_name = pod["metadata"]["name"]
    stored = api_server.call(api_server.server.store.get, "pods", pod_name, namespace="default")
    stored["status"] = status
    api_server.call(api_server.server.store.update, "pods", stored, namespace="default", subresource="status")
    header, row = kubectl.out("get", "pods", "--selector", "app=samples-tf-mnist-demo").splitlines()
    assert header.split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert row.split()[:4] == [pod_name, "0/1", "Completed", "0"]


def test_kubectl_wait_sees_a_status_change(kubectl: Kubectl, api_server: ServerHandle):
    kubectl.run("apply", "-f", str(JOB_MANIFEST))
    argv = kubectl.argv(
        "wait", "--for=condition=Complete", "job/samples-tf-mnist-demo", f"--timeout={WATCH_TIMEOUT_S:g}s"
    )
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as waiter:
        store = api_server.server.store
        job = api_server.call(store.get, "jobs", "samples-tf-mnist-demo", namespace="default")
        job["status"] = {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}
        api_server.call(store.update, "jobs", job, namespace="default", subresource="status")
        out, err = waiter.communicate(timeout=WATCH_TIMEOUT_S + 30)
    assert waiter.returncode == 0, err
    assert out.strip() == "job.batch/samples-tf-mnist-demo condition met"


def _read_lines(stream, sink: queue.Queue) -> None:
    for line in stream:
        sink.put(line)


def test_kubectl_get_watch_prints_new_objects(kubectl: Kubectl):
    kubectl.run("create", "configmap", "first")
    argv = kubectl.argv("get", "configmaps", "--watch")
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as watcher:
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=_read_lines, args=(watcher.stdout, lines), daemon=True).start()
        try:
            assert lines.get(timeout=WATCH_TIMEOUT_S).split() == ["NAME", "DATA", "AGE"]
            assert lines.get(timeout=WATCH_TIMEOUT_S).split()[:2] == ["first", "0"]
            kubectl.run("create", "configmap", "second", "--from-literal=a=b")
            assert lines.get(timeout=WATCH_TIMEOUT_S).split()[:2] == ["second", "1"]
        finally:
            watcher.terminate()
            watcher.wait(timeout=WATCH_TIMEOUT_S)


def test_kubectl_get_jobs_watch_shows_completion_as_in_the_article(
    kubectl: Kubectl, api_server: ServerHandle
):
    kubectl.run("apply", "-f", str(JOB_MANIFEST))
    argv = kubectl.argv("get", "jobs", "samples-tf-mnist-demo", "--watch")
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as watcher:
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=_read_lines, args=(watcher.stdout, lines), daemon=True).start()
        try:
            assert lines.get(timeout=WATCH_TIMEOUT_S).split()[:3] == ["NAME", "STATUS", "COMPLETIONS"]
            assert lines.get(timeout=WATCH_TIMEOUT_S).split()[:3] == [
                "samples-tf-mnist-demo",
                "Running",
                "0/1",
            ]
            # That row came from kubectl's GET; its watch may not have reached the server yet.
            wait_for_open_watch(api_server, "jobs")
            store = api_server.server.store
            job = api_server.call(store.get, "jobs", "samples-tf-mnist-demo", namespace="default")
            job["status"] = {
                "succeeded": 1,
                "startTime": "2026-01-01T00:00:00Z",
                "completionTime": "2026-01-01T00:01:10Z",
                "conditions": [{"type": "Complete", "status": "True"}],
            }
            api_server.call(store.update, "jobs", job, namespace="default", subresource="status")
            assert lines.get(timeout=WATCH_TIMEOUT_S).split()[:4] == [
                "samples-tf-mnist-demo",
                "Complete",
                "1/1",
                "70s",
            ]
        finally:
            watcher.terminate()
            watcher.wait(timeout=WATCH_TIMEOUT_S)


@pytest.fixture
def logs(api_server: ServerHandle, tmp_path) -> FileLogProvider:
    provider = FileLogProvider(tmp_path)
    api_server.server.set_log_provider(provider)
    return provider


def _pod(kubectl: Kubectl, name: str, containers: list[str]) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [{"name": c, "image": "x:1"} for c in containers]},
    }
    kubectl.apply(json.dumps(body))


def test_kubectl_logs_options(kubectl: Kubectl, logs: FileLogProvider, api_server: ServerHandle):
    _pod(kubectl, "trainer", ["main"])
    not_started = kubectl.run("logs", "trainer", check=False)
    assert not_started.returncode != 0
    assert 'container "main" in pod "trainer" is waiting to start: ContainerCreating' in not_started.stderr
    logs.write("default", "trainer", "main", "".join(f"Accuracy at step {i}: 0.{i}\n" for i in range(10)))
    assert kubectl.out("logs", "trainer").count("Accuracy at step") == 10
    assert kubectl.out("logs", "trainer", "--tail=2").splitlines() == [
        "Accuracy at step 8: 0.8",
        "Accuracy at step 9: 0.9",
    ]
    stamped = kubectl.out("logs", "trainer", "--tail=1", "--timestamps").split(" ", 1)
    assert stamped[0].endswith("Z") and stamped[1].strip() == "Accuracy at step 9: 0.9"
    previous = kubectl.run("logs", "trainer", "--previous", check=False)
    assert previous.returncode != 0 and "previous terminated container" in previous.stderr
    # kubectl picks a default container itself; the server's own rule is checked over HTTP.
    _pod(kubectl, "two", ["a", "b"])
    status = _http_get(api_server, "/api/v1/namespaces/default/pods/two/log")
    assert status["code"] == 400
    assert status["message"] == "a container name must be specified for pod two, choose one of: [a b]"
    assert _http_get(api_server, "/api/v1/namespaces/default/pods/two/log?container=zz")["message"] == (
        "container zz is not valid for pod two"
    )


def _http_get(api_server: ServerHandle, path: str) -> dict:
    try:
        with urllib.request.urlopen(api_server.url + path, timeout=WATCH_TIMEOUT_S) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        return json.loads(error.read())


def test_kubectl_logs_follow_streams_until_the_container_stops(
    kubectl: Kubectl, logs: FileLogProvider, api_server
):
    _pod(kubectl, "trainer", ["main"])
    logs.write("default", "trainer", "main", "line 1\n")
    logs.running.add(("default", "trainer", "main"))
    argv = kubectl.argv("logs", "-f", "trainer")
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as follower:
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=_read_lines, args=(follower.stdout, lines), daemon=True).start()
        assert lines.get(timeout=WATCH_TIMEOUT_S) == "line 1\n"
        logs.write("default", "trainer", "main", "line 2\n")
        assert lines.get(timeout=WATCH_TIMEOUT_S) == "line 2\n"
        logs.running.discard(("default", "trainer", "main"))
        assert follower.wait(timeout=WATCH_TIMEOUT_S) == 0  # the stream ended with the container


def _owned_pods(kubectl: Kubectl) -> None:
    kubectl.run("apply", "-f", str(JOB_MANIFEST))
    job = kubectl.json("get", "job/samples-tf-mnist-demo")
    owner = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "name": job["metadata"]["name"],
        "uid": job["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
    for i in range(2):
        kubectl.apply(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": f"worker-{i}", "ownerReferences": [owner]},
                    "spec": {"containers": [{"name": "c", "image": "x:1"}]},
                }
            )
        )


@pytest.mark.parametrize("cascade", ["background", "foreground"])
def test_cascading_delete_removes_dependents(kubectl: Kubectl, cascade: str):
    _owned_pods(kubectl)
    kubectl.run(
        "delete", "job/samples-tf-mnist-demo", f"--cascade={cascade}", f"--timeout={CASCADE_TIMEOUT_S:g}s"
    )
    kubectl.run("wait", "--for=delete", "pod/worker-0", "pod/worker-1", f"--timeout={CASCADE_TIMEOUT_S:g}s")
    assert kubectl.json("get", "pods")["items"] == []


def test_orphan_delete_keeps_dependents_without_owner(kubectl: Kubectl):
    _owned_pods(kubectl)
    kubectl.run(
        "delete", "job/samples-tf-mnist-demo", "--cascade=orphan", f"--timeout={CASCADE_TIMEOUT_S:g}s"
    )
    kubectl.run("wait", "--for=delete", "job/samples-tf-mnist-demo", f"--timeout={CASCADE_TIMEOUT_S:g}s")
    pods = kubectl.json("get", "pods")["items"]
    assert [p["metadata"]["name"] for p in pods] == ["worker-0", "worker-1"]
    assert all("ownerReferences" not in p["metadata"] for p in pods)


def test_deleting_a_namespace_removes_its_content(kubectl: Kubectl):
    kubectl.run("create", "namespace", "gpu-resources")
    kubectl.run("apply", "-f", str(DAEMONSET_MANIFEST))
    kubectl.run("delete", "namespace", "gpu-resources", f"--timeout={CASCADE_TIMEOUT_S:g}s")
    missing = kubectl.run("get", "namespace", "gpu-resources", check=False)
    assert missing.returncode != 0 and "NotFound" in missing.stderr
    assert kubectl.json("get", "daemonsets", "-A")["items"] == []


def test_kubectl_apply_rejects_unknown_fields_on_the_server(kubectl: Kubectl):
    # kubectl finds `fieldValidation` in the OpenAPI v3 PATCH operations, sends Strict and relies
    # on the server to name the unknown field.
    manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: typo\ndataa:\n  k: v\n"
    done = kubectl.run("apply", "-f", "-", stdin=manifest, check=False)
    assert done.returncode != 0
    assert 'strict decoding error: unknown field "dataa"' in done.stderr
    assert kubectl.run("get", "configmap", "typo", check=False).returncode != 0


# Table output: kubectl prints the server's Table (as=Table) columns; ages are computed from
# timestamps, so the objects here are made 10 days (and events 12 days) old to have exact values.
def _ago(**delta: float) -> str:
    return (datetime.now(UTC) - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _created_long_ago(api_server: ServerHandle, monkeypatch, resource: str, body: dict, **where: str) -> dict:
    """Create through the store with a creationTimestamp 10 days and 1 hour in the past (AGE 10d)."""
    moment = _ago(days=10, hours=1)
    with monkeypatch.context() as patched:
        patched.setattr(store_module, "now_rfc3339", lambda clock_offset=0.0: moment)
        return api_server.call(api_server.server.store.create, resource, body, **where)


def _table(text: str) -> tuple[list[str], list[dict[str, str]]]:
    """kubectl's aligned table as (header names, rows by header name): columns start where the
    header's names start (names and cells may hold single spaces; columns are 3+ spaces apart)."""
    header, *lines = text.rstrip("\n").splitlines()
    starts = [(m.start(), m.group()) for m in re.finditer(r"\S+(?: \S+)*", header)]
    bounds = [
        (start, starts[i + 1][0] if i + 1 < len(starts) else None, name)
        for i, (start, name) in enumerate(starts)
    ]
    rows = [{name: line[start:end].strip() for start, end, name in bounds} for line in lines]
    return [name for _, name in starts], rows


def test_get_nodes_shows_status_roles_age_and_version(
    kubectl: Kubectl, api_server: ServerHandle, monkeypatch
):
    ready = {
        "metadata": {
            "name": "aks-nodepool1-28993262-0",
            "labels": {"kubernetes.azure.com/role": "agent", "node-role.kubernetes.io/agent": ""},
        },
        "status": {
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
            "addresses": [{"type": "InternalIP", "address": "10.240.0.4"}],
            "nodeInfo": {
                "kubeletVersion": "v1.31.2",
                "osImage": "Ubuntu 22.04.5 LTS",
                "kernelVersion": "5.15.0-1074-azure",
                "containerRuntimeVersion": "containerd://1.7.23-1",
            },
        },
    }
    cordoned = {
        "metadata": {"name": "aks-gpu-28993262-1"},
        "spec": {"unschedulable": True},
        "status": {
            "conditions": [{"type": "Ready", "status": "False", "reason": "KubeletNotReady"}],
            "nodeInfo": {"kubeletVersion": "v1.31.2"},
        },
    }
    for node in (ready, cordoned):
        _created_long_ago(api_server, monkeypatch, "nodes", node)
    columns, rows = _table(kubectl.out("get", "nodes"))
    assert columns == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert rows == [
        {"NAME": "aks-gpu-28993262-1", "STATUS": "NotReady,SchedulingDisabled", "ROLES": "<none>",
         "AGE": "10d", "VERSION": "v1.31.2"},
        {"NAME": "aks-nodepool1-28993262-0", "STATUS": "Ready", "ROLES": "agent", "AGE": "10d",
         "VERSION": "v1.31.2"},
    ]  # fmt: skip
    columns, rows = _table(kubectl.out("get", "node", "aks-nodepool1-28993262-0", "-o", "wide"))
    assert columns == ["NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE",
                       "KERNEL-VERSION", "CONTAINER-RUNTIME"]  # fmt: skip
    assert rows == [
        {"NAME": "aks-nodepool1-28993262-0", "STATUS": "Ready", "ROLES": "agent", "AGE": "10d",
         "VERSION": "v1.31.2", "INTERNAL-IP": "10.240.0.4", "EXTERNAL-IP": "<none>",
         "OS-IMAGE": "Ubuntu 22.04.5 LTS", "KERNEL-VERSION": "5.15.0-1074-azure",
         "CONTAINER-RUNTIME": "containerd://1.7.23-1"},
    ]  # fmt: skip


def test_get_namespaces_shows_status_and_age(kubectl: Kubectl, api_server: ServerHandle, monkeypatch):
    for name in ("gpu-resources", "leaving"):
        _created_long_ago(api_server, monkeypatch, "namespaces", {"metadata": {"name": name}})
    # A configmap held by a finalizer keeps its namespace Terminating.
    held = {"metadata": {"name": "held", "finalizers": ["example.com/hold"]}}
    api_server.call(api_server.server.store.create, "configmaps", held, namespace="leaving")
    kubectl.run("delete", "namespace", "leaving", "--wait=false")
    columns, rows = _table(kubectl.out("get", "namespaces"))
    assert columns == ["NAME", "STATUS", "AGE"]
    assert [(r["NAME"], r["STATUS"]) for r in rows] == [
        ("default", "Active"),
        ("gpu-resources", "Active"),
        ("kube-node-lease", "Active"),
        ("kube-public", "Active"),
        ("kube-system", "Active"),
        ("leaving", "Terminating"),
    ]
    ages = {r["NAME"]: r["AGE"] for r in rows}
    assert (ages["gpu-resources"], ages["leaving"]) == ("10d", "10d")
    assert _table(kubectl.out("get", "ns", "gpu-resources"))[1] == [
        {"NAME": "gpu-resources", "STATUS": "Active", "AGE": "10d"}
    ]


def test_get_events_shows_last_seen_type_reason_object_and_message(
    kubectl: Kubectl, api_server: ServerHandle
):
    def event(
        name: str, severity: str, reason: str, about: tuple[str, str], message: str, count: int
    ) -> dict:
        return {
            "metadata": {"name": name},
            "involvedObject": {"kind": about[0], "name": about[1], "namespace": "default"},
            "type": severity,
            "reason": reason,
            "message": message,
            "count": count,
            "firstTimestamp": _ago(days=12, hours=1),
            "lastTimestamp": _ago(days=10, hours=1),
            "source": {"component": "default-scheduler"},
        }

    waiting = "0/1 nodes are available: 1 Insufficient nvidia.com/gpu."
    created = "Created pod: samples-tf-mnist-demo-x7k2p"
    for body in (
        event("gpu-waiter.1", "Warning", "FailedScheduling", ("Pod", "gpu-waiter"), waiting, 3),
        event("mnist.1", "Normal", "SuccessfulCreate", ("Job", "samples-tf-mnist-demo"), created, 1),
    ):
        api_server.call(api_server.server.store.create, "events", body, namespace="default")
    columns, rows = _table(kubectl.out("get", "events"))
    assert columns == ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert sorted(rows, key=lambda r: r["OBJECT"]) == [
        {"LAST SEEN": "10d", "TYPE": "Normal", "REASON": "SuccessfulCreate",
         "OBJECT": "job/samples-tf-mnist-demo", "MESSAGE": created},
        {"LAST SEEN": "10d (x3 over 12d)", "TYPE": "Warning", "REASON": "FailedScheduling",
         "OBJECT": "pod/gpu-waiter", "MESSAGE": waiting},
    ]  # fmt: skip
