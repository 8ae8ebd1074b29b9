"""Detection latency: how soon a waiter notices a change the embedded cluster makes, and what it costs.

For three of the article's waits -- "DaemonSet rolled out", "GPU advertised" (capacity == allocatable
== 1 on the node) and "Job complete" -- the benchmark measures the time from the moment the cluster
commits the change to its store (a store listener on the cluster's own loop records time.monotonic()
at the first write that satisfies the condition) to the moment the waiter returns, and the API
requests the wait cost. Waiters, side by side:

  watch   the project's gpuconf.waits.wait_for (list + watch)
  poll50  GET/list every 50 ms with the official client (the baseline written here)
  poll1s  the same every 1 s
  poll2s  the same every 2 s

Each trial is a fresh `running_cluster` (fast_test_options, the article's one Standard_NC6 node, the
device plugin as a process) in this process; the waiters for a trial are started *before* the
trigger (DaemonSet applied / Job created), so they are already waiting when the change happens.
One waiter kind per trial (no interference); kinds interleaved across trials. The trigger comes
0.3 s + uniform(0, interval) after the waiters start, so a poller's phase relative to the change is
random (without it, the same cluster timings put the change at the same point of every poll cycle).

A second scenario measures a 10 s wait: every waiter kind starts waiting for "GPU advertised", the
DaemonSet is applied 10 s later; it reports the requests each kind made (target: wait_for >= 50x
fewer than 50 ms polling).

    .venv/bin/python bench/bench_detection.py --runs 5
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kubernetes import client as kclient  # noqa: E402

from gpuconf import states  # noqa: E402
from gpuconf.emulator.cluster import fast_test_options, running_cluster  # noqa: E402
from gpuconf.kube import Kube, gpu_quantity, load_manifest  # noqa: E402
from gpuconf.waits import wait_for  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DS_MANIFEST = ROOT / "manifests/article/nvidia-device-plugin-ds.yaml"
JOB_MANIFEST = ROOT / "manifests/article/samples-tf-mnist-demo.yaml"
PLUGIN_NS = "gpu-resources"
KINDS = ("watch", "poll50", "poll1s", "poll2s")
INTERVALS = {"poll50": 0.05, "poll1s": 1.0, "poll2s": 2.0}
WAIT_TIMEOUT_S = 60.0

# --- request counting: every official-client request goes through ApiClient.call_api -----------
_counts = threading.local()
_original_call_api = kclient.ApiClient.call_api


def _counting_call_api(self: Any, *args: Any, **kwargs: Any) -> Any:
    _counts.n = getattr(_counts, "n", 0) + 1
    return _original_call_api(self, *args, **kwargs)


kclient.ApiClient.call_api = _counting_call_api  # type: ignore[method-assign]


def thread_requests() -> int:
    return getattr(_counts, "n", 0)


# --- the three conditions, on list items (JSON dicts) --------------------------------------------
def ds_rolled_out(items: list[dict]) -> bool:
    return bool(items) and states.daemonset_rolled_out(items[0])


def gpu_advertised(items: list[dict]) -> bool:
    return bool(items) and all(
        gpu_quantity(n, "capacity") == 1 and gpu_quantity(n, "allocatable") == 1 for n in items
    )


def job_complete(items: list[dict]) -> bool:
    return bool(items) and states.job_complete(items[0])


class Scenario:
    def __init__(
        self,
        name: str,
        resource: str,
        until: Callable[[list[dict]], bool],
        lister_name: str,
        query: dict[str, Any],
    ) -> None:
        self.name, self.resource, self.until, self.lister_name, self.query = (
            name,
            resource,
            until,
            lister_name,
            query,
        )

    def lister(self, kube: Kube) -> Callable[..., Any]:
        group, method = self.lister_name.split(".")
        return getattr(getattr(kube, group), method)


def scenarios(job_name: str) -> dict[str, Scenario]:
    return {
        "ds": Scenario(
            "DaemonSet rolled out",
            "daemonsets",
            ds_rolled_out,
            "apps.list_namespaced_daemon_set",
            {"namespace": PLUGIN_NS, "field_selector": "metadata.name=nvidia-device-plugin-daemonset"},
        ),
        "gpu": Scenario("GPU advertised", "nodes", gpu_advertised, "core.list_node", {}),
        "job": Scenario(
            "Job complete",
            "jobs",
            job_complete,
            "batch.list_namespaced_job",
            {"namespace": "default", "field_selector": f"metadata.name={job_name}"},
        ),
    }


class ChangeClock:
    """A store listener (runs on the cluster loop): the monotonic time of the first write per scenario
    whose object makes the scenario's condition true."""

    def __init__(self, scens: dict[str, Scenario]) -> None:
        self.scens = scens
        self.first: dict[str, float] = {}

    def __call__(self, entry: Any) -> None:
        now = time.monotonic()
        for key, scen in self.scens.items():
            if key in self.first or entry.resource != scen.resource or entry.type == "DELETED":
                continue
            obj = entry.obj
            if key == "ds" and obj["metadata"]["name"] != "nvidia-device-plugin-daemonset":
                continue
            if key == "job" and obj["metadata"]["name"] != scen.query["field_selector"].split("=")[1]:
                continue
            if scen.until([obj]):
                self.first[key] = now


def poll(
    lister: Callable[..., Any],
    until: Callable[[list[dict]], bool],
    interval: float,
    timeout: float,
    **query: Any,
) -> None:
    """The baseline: list every `interval` with the official client until the condition holds."""
    deadline = time.monotonic() + timeout
    while True:
        response = lister(**query, _preload_content=False)
        if until(json.loads(response.data).get("items", [])):
            return
        if time.monotonic() >= deadline:
            raise TimeoutError("poll timed out")
        time.sleep(interval)


def run_waiter(kind: str, kube: Kube, scen: Scenario, out: dict[str, Any]) -> None:
    _counts.n = 0
    started = time.monotonic()
    try:
        if kind == "watch":
            result = wait_for(
                scen.lister(kube),
                until=scen.until,
                timeout=WAIT_TIMEOUT_S,
                timeout_name="bench",
                describe=scen.name,
                **scen.query,
            )
            out["wait_for_requests"] = result.requests
        else:
            poll(scen.lister(kube), scen.until, INTERVALS[kind], WAIT_TIMEOUT_S, **scen.query)
        out["returned"] = time.monotonic()
    except Exception as error:  # reported, not hidden
        out["error"] = repr(error)
    out["started"] = started
    out["requests"] = thread_requests()


def start_waiter(kind: str, kube: Kube, scen: Scenario) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}
    thread = threading.Thread(target=run_waiter, args=(kind, kube, scen, out), daemon=True)
    thread.start()
    return thread, out


def make_kube(kubeconfig: Path) -> Kube:
    return Kube.from_kubeconfig(kubeconfig)


def article_objects(max_steps: int) -> tuple[dict, dict]:
    (ds,) = load_manifest(DS_MANIFEST)
    (job,) = load_manifest(JOB_MANIFEST)
    job["metadata"].setdefault("namespace", "default")
    job["spec"]["template"]["spec"]["containers"][0]["args"] = ["--max_steps", str(max_steps)]
    return ds, job


def one_trial(kind: str, max_steps: int) -> dict[str, dict[str, Any]]:
    ds, job = article_objects(max_steps)
    scens = scenarios(job["metadata"]["name"])
    clock = ChangeClock(scens)
    with running_cluster(options=fast_test_options()) as cluster:
        store = cluster.cluster.api
        cluster.call(store.add_listener, clock)
        kube = make_kube(cluster.kubeconfig)
        try:
            kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": PLUGIN_NS}})
            # One client per waiter thread: urllib3 pools are thread-safe, but keep them apart anyway.
            kubes = {k: make_kube(cluster.kubeconfig) for k in scens}
            waiters = {k: start_waiter(kind, kubes[k], scens[k]) for k in ("ds", "gpu")}
            # Both waiters are in their watch / poll loop before the trigger, at a random poll phase.
            time.sleep(0.3 + random.uniform(0, INTERVALS.get(kind, 0.05)))
            kube.create(ds)
            for thread, _ in waiters.values():
                thread.join(WAIT_TIMEOUT_S + 5)
            waiters["job"] = start_waiter(kind, kubes["job"], scens["job"])
            time.sleep(0.3 + random.uniform(0, INTERVALS.get(kind, 0.05)))
            kube.create(job)
            waiters["job"][0].join(WAIT_TIMEOUT_S + 5)
            results = {}
            for key, (_, out) in waiters.items():
                change = clock.first.get(key)
                results[key] = {
                    "latency_ms": (out["returned"] - change) * 1000 if change and "returned" in out else None,
                    "requests": out.get("requests"),
                    "wait_s": out["returned"] - out["started"] if "returned" in out else None,
                    "wait_for_requests": out.get("wait_for_requests"),
                    "error": out.get("error"),
                }
            for k in kubes.values():
                k.close()
            return results
        finally:
            kube.close()


def ten_second_wait() -> dict[str, dict[str, Any]]:
    """All kinds wait for "GPU advertised"; the DaemonSet is applied 10 s after they start."""
    ds, job = article_objects(500)
    scens = scenarios(job["metadata"]["name"])
    clock = ChangeClock({"gpu": scens["gpu"]})
    with running_cluster(options=fast_test_options()) as cluster:
        cluster.call(cluster.cluster.api.add_listener, clock)
        kube = make_kube(cluster.kubeconfig)
        kubes = {k: make_kube(cluster.kubeconfig) for k in KINDS}
        try:
            kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": PLUGIN_NS}})
            waiters = {k: start_waiter(k, kubes[k], scens["gpu"]) for k in KINDS}
            time.sleep(10.0)
            kube.create(ds)
            for thread, _ in waiters.values():
                thread.join(WAIT_TIMEOUT_S + 5)
            change = clock.first.get("gpu")
            return {
                k: {
                    "requests": out.get("requests"),
                    "wait_s": out["returned"] - out["started"] if "returned" in out else None,
                    "latency_ms": (out["returned"] - change) * 1000 if change and "returned" in out else None,
                    "error": out.get("error"),
                }
                for k, (_, out) in waiters.items()
            }
        finally:
            kube.close()
            for k in kubes.values():
                k.close()


def fmt_range(values: list[float], unit: str = "", digits: int = 1) -> str:
    if not values:
        return "n/a"
    return f"{statistics.median(values):.{digits}f}{unit} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=5, help="trials per waiter kind")
    parser.add_argument("--max-steps", type=int, default=500)
    parser.add_argument("--skip-10s", action="store_true", help="skip the 10 s wait scenario")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args()

    raw: dict[str, list[dict[str, dict[str, Any]]]] = {k: [] for k in KINDS}
    for trial in range(args.runs):
        for kind in KINDS:
            raw[kind].append(one_trial(kind, args.max_steps))
            print(
                f"trial {trial + 1}/{args.runs} {kind}: "
                + ", ".join(
                    f"{s} {r['latency_ms']:.1f} ms/{r['requests']} req"
                    if r["latency_ms"] is not None
                    else f"{s} ERROR {r['error']}"
                    for s, r in raw[kind][-1].items()
                ),
                flush=True,
            )

    names = {"ds": "DaemonSet rolled out", "gpu": "GPU advertised", "job": "Job complete"}
    print(
        f"\nDetection latency, change committed -> waiter returns, {args.runs} trials per kind: "
        "median ms (min–max); requests per wait median (min–max); whole wait s"
    )
    print(f"{'condition':22} {'waiter':7} {'latency ms':>22} {'requests':>16} {'wait s':>18}")
    medians: dict[tuple[str, str], float] = {}
    for key, name in names.items():
        for kind in KINDS:
            lat = [t[key]["latency_ms"] for t in raw[kind] if t[key]["latency_ms"] is not None]
            req = [t[key]["requests"] for t in raw[kind] if t[key]["requests"] is not None]
            wait = [t[key]["wait_s"] for t in raw[kind] if t[key]["wait_s"] is not None]
            errors = [t[key]["error"] for t in raw[kind] if t[key]["error"]]
            if lat:
                medians[(key, kind)] = statistics.median(lat)
            print(
                f"{name:22} {kind:7} {fmt_range(lat):>22} {fmt_range(req, digits=0):>16} "
                f"{fmt_range(wait, digits=2):>18}" + (f"  ERRORS: {errors}" if errors else "")
            )
    watch_all = [t[k]["latency_ms"] for t in raw["watch"] for k in names if t[k]["latency_ms"] is not None]
    wf_req = [t[k]["wait_for_requests"] for t in raw["watch"] for k in names]
    print(
        f"\nwait_for, all three conditions: median latency {statistics.median(watch_all):.1f} ms "
        f"(target <= 10 ms: {'met' if statistics.median(watch_all) <= 10 else 'MISSED'}); "
        f"WaitResult.requests {sorted(set(wf_req))}"
    )
    for kind in ("poll50", "poll1s", "poll2s"):
        ratios = [medians[(k, kind)] / medians[(k, "watch")] for k in names if (k, kind) in medians]
        print(f"median latency {kind}/watch per condition: " + ", ".join(f"{r:.0f}x" for r in ratios))

    ten = None
    if not args.skip_10s:
        ten = ten_second_wait()
        print("\n10 s wait (GPU advertised, DaemonSet applied 10 s after the waiters start):")
        for kind, r in ten.items():
            wait = f"{r['wait_s']:.2f}" if r["wait_s"] is not None else "n/a"
            lat = f"{r['latency_ms']:.1f}" if r["latency_ms"] is not None else "n/a"
            print(
                f"  {kind:7} requests {r['requests']:5}  wait {wait} s  latency {lat} ms"
                + (f"  ERROR {r['error']}" if r["error"] else "")
            )
        ratio = ten["poll50"]["requests"] / max(1, ten["watch"]["requests"])
        print(f"  poll50/watch requests: {ratio:.0f}x (target >= 50x: {'met' if ratio >= 50 else 'MISSED'})")
    if args.json:
        args.json.write_text(json.dumps({"trials": raw, "ten_second_wait": ten}, indent=1))


if __name__ == "__main__":
    main()
