"""job-controller (batch/v1 Job) with the semantics of Kubernetes 1.31.

Covered: completions, parallelism, backoffLimit (failed pods with restartPolicy Never; container
restarts count too with OnFailure), exponential pod-recreation backoff (base configurable, 10 s in
Kubernetes), activeDeadlineSeconds, ttlSecondsAfterFinished, the job-name / controller-uid labels
(both spellings), status counts (active, ready, succeeded, failed, terminating), startTime,
completionTime, and conditions as 1.31 writes them: SuccessCriteriaMet then Complete, FailureTarget
then Failed, each with Kubernetes' reasons and messages.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from typing import Any

from gpuconf.emulator.controllers.events import JOB_CONTROLLER, EventRecorder, now_rfc3339
from gpuconf.emulator.controllers.informer import Informer, KeyQueue, key_of
from gpuconf.emulator.controllers.podutil import (
    get_condition,
    is_ready,
    owned_by,
    pod_from_template,
    set_condition,
)
from gpuconf.emulator.interface import ApiError, ClusterAPI

Obj = dict[str, Any]

REASON_COMPLETIONS = "CompletionsReached"
MESSAGE_COMPLETIONS = "Reached expected number of succeeded pods"
REASON_BACKOFF = "BackoffLimitExceeded"
MESSAGE_BACKOFF = "Job has reached the specified backoff limit"
REASON_DEADLINE = "DeadlineExceeded"
MESSAGE_DEADLINE = "Job was active longer than specified deadline"


# (interim, terminal) condition pairs, as 1.31 writes them.
_TERMINAL = (("FailureTarget", "Failed"), ("SuccessCriteriaMet", "Complete"))


@dataclass
class JobTiming:
    """Kubernetes waits 10 s * 2^(failures-1) before replacing a failed pod, capped by
    MaxJobPodFailureBackOff: 10 min in pkg/controller/job/job_controller.go (the Job docs still say
    "capped at six minutes"). Tests shorten both (same doubling)."""

    backoff_base_s: float = 10.0
    backoff_max_s: float = 600.0


def _parse_time(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    return dt.datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.UTC)


def _restarts(pod: Obj) -> int:
    return sum(
        int(s.get("restartCount") or 0) for s in (pod.get("status") or {}).get("containerStatuses") or []
    )


class JobController:
    def __init__(
        self, api: ClusterAPI, jobs: Informer, pods: Informer, timing: JobTiming | None = None
    ) -> None:
        self.api = api
        self.jobs = jobs
        self.pods = pods
        self.timing = timing or JobTiming()
        self.recorder = EventRecorder(api, JOB_CONTROLLER)
        self.queue = KeyQueue("job-controller", self._reconcile)
        # Terminal pods already counted, by job uid: counts survive the pods' deletion, which is what
        # the real controller's job-tracking finalizer and uncountedTerminatedPods achieve.
        self._finished: dict[str, dict[str, str]] = {}
        self._last_failure: dict[str, float] = {}
        jobs.add_handler(lambda _t, job: self.queue.add(key_of(job)))
        pods.add_handler(self._on_pod)

    def start(self) -> None:
        self.queue.start()

    async def stop(self) -> None:
        await self.queue.stop()

    def _on_pod(self, _event_type: str, pod: Obj) -> None:
        for ref in (pod.get("metadata") or {}).get("ownerReferences") or []:
            if ref.get("kind") == "Job" and ref.get("controller"):
                self.queue.add(f"{pod['metadata']['namespace']}/{ref['name']}")

    def _owned_pods(self, job: Obj) -> list[Obj]:
        uid = job["metadata"]["uid"]
        namespace = job["metadata"]["namespace"]
        return [
            p for p in self.pods.values() if p["metadata"].get("namespace") == namespace and owned_by(p, uid)
        ]

    async def _reconcile(self, key: str) -> None:
        job = self.jobs.get(key)
        if job is None:
            return
        meta, spec = job["metadata"], job.get("spec") or {}
        status: Obj = dict(job.get("status") or {})
        uid = meta["uid"]
        if meta.get("deletionTimestamp"):
            return
        finished = self._job_finished(status)
        if finished:
            self._schedule_ttl(job, status)
            return
        pods = self._owned_pods(job)
        counted = self._finished.setdefault(uid, {})
        for pod in pods:
            phase = (pod.get("status") or {}).get("phase")
            if phase in ("Succeeded", "Failed") and pod["metadata"]["uid"] not in counted:
                counted[pod["metadata"]["uid"]] = phase
                if phase == "Failed":
                    self._last_failure[uid] = self._loop_time()
        succeeded = sum(1 for p in counted.values() if p == "Succeeded")
        failed = sum(1 for p in counted.values() if p == "Failed")
        active = [
            p
            for p in pods
            if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
            and not p["metadata"].get("deletionTimestamp")
        ]
        terminating = [p for p in pods if p["metadata"].get("deletionTimestamp")]
        if not status.get("startTime"):
            status["startTime"] = now_rfc3339()
        completions = spec.get("completions", 1)
        parallelism = spec.get("parallelism", 1)
        backoff_limit = spec.get("backoffLimit", 6)
        restart_failures = (
            sum(_restarts(p) for p in active) if self._restart_policy(job) == "OnFailure" else 0
        )

        failure: tuple[str, str] | None = None
        if failed + restart_failures > backoff_limit:
            failure = (REASON_BACKOFF, MESSAGE_BACKOFF)
        elif self._deadline_passed(spec, status):
            failure = (REASON_DEADLINE, MESSAGE_DEADLINE)

        for interim, final in _TERMINAL:
            target = get_condition(status, interim)
            if target.get("status") == "True":
                # 1.31 adds the terminal condition only once every pod has stopped.
                for pod in active:
                    self._delete_pod(job, pod)
                done = not active and not terminating
                why = (target.get("reason", ""), target.get("message", ""))
                kinds = (interim, final) if done else (interim,)
                self._write_terminal(
                    job, status, kinds, why, succeeded, failed, len(active) + len(terminating)
                )
                if done and final == "Complete":
                    self.recorder.normal(job, "Completed", "Job completed")
                return
        if failure is not None:
            for pod in active:
                self._delete_pod(job, pod)
            done = not active and not terminating
            kinds = ("FailureTarget", "Failed") if done else ("FailureTarget",)
            self._write_terminal(
                job, status, kinds, failure, succeeded, failed, len(active) + len(terminating)
            )
            self.recorder.warning(job, failure[0], failure[1])
            return
        if completions is not None and succeeded >= completions:
            for pod in active:
                self._delete_pod(job, pod)
            done = not active and not terminating
            kinds = ("SuccessCriteriaMet", "Complete") if done else ("SuccessCriteriaMet",)
            why = (REASON_COMPLETIONS, MESSAGE_COMPLETIONS)
            self._write_terminal(job, status, kinds, why, succeeded, failed, len(active) + len(terminating))
            if done:
                self.recorder.normal(job, "Completed", "Job completed")
            return

        wanted = parallelism if completions is None else min(parallelism, completions - succeeded)
        if len(active) < wanted:
            delay = self._backoff_remaining(uid, failed)
            if delay > 0:
                self.queue.add(key, delay=delay)
            else:
                for _ in range(wanted - len(active)):
                    created = self._create_pod(job)
                    if created is not None:
                        active.append(created)
        self._arm_deadline(key, spec, status)
        status.update(
            {
                "active": len(active),
                "ready": sum(1 for p in active if is_ready(p)),
                "succeeded": succeeded,
                "failed": failed,
                "terminating": len(terminating),
                "uncountedTerminatedPods": {},
            }
        )
        for field in ("active", "succeeded", "failed"):
            if not status[field]:
                del status[field]  # omitempty, as the real API shows them
        self._write_status(job, status)

    @staticmethod
    def _restart_policy(job: Obj) -> str:
        return ((job.get("spec") or {}).get("template") or {}).get("spec", {}).get("restartPolicy", "Never")

    @staticmethod
    def _job_finished(status: Obj) -> bool:
        return any(get_condition(status, kind).get("status") == "True" for kind in ("Complete", "Failed"))

    @staticmethod
    def _loop_time() -> float:
        return asyncio.get_running_loop().time()

    def _backoff_remaining(self, uid: str, failed: int) -> float:
        if failed == 0 or uid not in self._last_failure:
            return 0.0
        backoff = min(self.timing.backoff_base_s * 2 ** (failed - 1), self.timing.backoff_max_s)
        return self._last_failure[uid] + backoff - self._loop_time()

    @staticmethod
    def _deadline_passed(spec: Obj, status: Obj) -> bool:
        deadline = spec.get("activeDeadlineSeconds")
        started = _parse_time(status.get("startTime"))
        if deadline is None or started is None:
            return False
        return (dt.datetime.now(dt.UTC) - started).total_seconds() >= deadline

    def _arm_deadline(self, key: str, spec: Obj, status: Obj) -> None:
        deadline = spec.get("activeDeadlineSeconds")
        started = _parse_time(status.get("startTime"))
        if deadline is not None and started is not None:
            remaining = deadline - (dt.datetime.now(dt.UTC) - started).total_seconds()
            self.queue.add(key, delay=max(remaining, 0.0) + 0.05)

    def _schedule_ttl(self, job: Obj, status: Obj) -> None:
        ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
        if ttl is None:
            return
        finished_at = _parse_time(status.get("completionTime")) or _parse_time(
            next(
                (
                    c.get("lastTransitionTime")
                    for c in status.get("conditions") or []
                    if c.get("type") == "Failed"
                ),
                None,
            )
        )
        if finished_at is None:
            return
        remaining = ttl - (dt.datetime.now(dt.UTC) - finished_at).total_seconds()
        if remaining > 0:
            self.queue.add(key_of(job), delay=remaining + 0.05)
            return
        try:
            self.api.delete(
                "jobs",
                job["metadata"]["name"],
                namespace=job["metadata"]["namespace"],
                propagation_policy="Foreground",
            )
        except ApiError as err:
            if err.code != 404:
                raise

    def _create_pod(self, job: Obj) -> Obj | None:
        meta = job["metadata"]
        labels = {
            "batch.kubernetes.io/controller-uid": meta["uid"],
            "batch.kubernetes.io/job-name": meta["name"],
            "controller-uid": meta["uid"],
            "job-name": meta["name"],
        }
        pod = pod_from_template(
            job,
            (job.get("spec") or {}).get("template") or {},
            generate_name=f"{meta['name']}-",
            extra_labels=labels,
        )
        try:
            created = self.api.create("pods", pod, namespace=meta["namespace"])
        except ApiError as err:
            self.recorder.warning(job, "FailedCreate", f"Error creating: {err.message}")
            return None
        self.pods.cache[key_of(created)] = created  # expectation: don't create it twice before the watch
        self.recorder.normal(job, "SuccessfulCreate", f"Created pod: {created['metadata']['name']}")
        return created

    def _delete_pod(self, job: Obj, pod: Obj) -> None:
        try:
            self.api.delete("pods", pod["metadata"]["name"], namespace=pod["metadata"]["namespace"])
        except ApiError as err:
            if err.code != 404:
                raise
            return
        self.recorder.normal(job, "SuccessfulDelete", f"Deleted pod: {pod['metadata']['name']}")

    def _write_terminal(
        self,
        job: Obj,
        status: Obj,
        kinds: tuple[str, ...],
        why: tuple[str, str],
        succeeded: int,
        failed: int,
        terminating: int,
    ) -> None:
        stamp = now_rfc3339()
        for kind in kinds:
            set_condition(
                status,
                {
                    "type": kind,
                    "status": "True",
                    "reason": why[0],
                    "message": why[1],
                    "lastProbeTime": stamp,
                    "lastTransitionTime": stamp,
                },
            )
        status.pop("active", None)
        status["ready"] = 0
        status["terminating"] = terminating
        status["uncountedTerminatedPods"] = {}
        if succeeded:
            status["succeeded"] = succeeded
        if failed:
            status["failed"] = failed
        if "Complete" in kinds and not status.get("completionTime"):
            status["completionTime"] = stamp
        self._write_status(job, status)
        self._schedule_ttl(job, status)

    def _write_status(self, job: Obj, status: Obj) -> None:
        if status == (job.get("status") or {}):
            return
        fresh = dict(job)
        fresh["status"] = status
        fresh["metadata"] = dict(job["metadata"])
        updated = self.api.update("jobs", fresh, namespace=job["metadata"]["namespace"], subresource="status")
        self.jobs.cache[key_of(updated)] = updated
