"""kube-controller-manager + kube-scheduler in one object: shared informers, controllers, lifecycle."""

from __future__ import annotations

import asyncio

from gpuconf.emulator.controllers.daemonset import DaemonSetController
from gpuconf.emulator.controllers.informer import Informer
from gpuconf.emulator.controllers.job import JobController, JobTiming
from gpuconf.emulator.controllers.scheduler import Scheduler
from gpuconf.emulator.interface import ClusterAPI

INFORMER_SYNC_TIMEOUT_S = 10.0


class ControllerManager:
    def __init__(self, api: ClusterAPI, *, job_timing: JobTiming | None = None) -> None:
        self.api = api
        self.pods = Informer(api, "pods")
        self.nodes = Informer(api, "nodes")
        self.daemonsets = Informer(api, "daemonsets")
        self.jobs = Informer(api, "jobs")
        self.scheduler = Scheduler(api, self.pods, self.nodes)
        self.daemonset_controller = DaemonSetController(api, self.daemonsets, self.pods, self.nodes)
        self.job_controller = JobController(api, self.jobs, self.pods, job_timing)
        self._informers = (self.pods, self.nodes, self.daemonsets, self.jobs)
        self._controllers = (self.scheduler, self.daemonset_controller, self.job_controller)

    async def start(self) -> None:
        for informer in self._informers:
            informer.start()
        await asyncio.wait_for(
            asyncio.gather(*(i.synced.wait() for i in self._informers)), timeout=INFORMER_SYNC_TIMEOUT_S
        )
        for controller in self._controllers:
            controller.start()

    async def stop(self) -> None:
        for controller in self._controllers:
            await controller.stop()
        for informer in self._informers:
            await informer.stop()
