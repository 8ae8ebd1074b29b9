"""Fixtures for the AKS tier's tests: a loopback fake ARM per test and settings that point at it.

Polls, retries and progress lines are shrunk to milliseconds so a whole provision/teardown cycle
runs in well under a second while the Azure SDK still does its real polling and retrying.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from gpuconf.azure.fakearm import FakeArmBehaviour, FakeArmServer, running_fake_arm
from gpuconf.azure.operations import ProgressLog
from gpuconf.azure.settings import AksSettings, resolve
from gpuconf.backends.aks import AksBackend

SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
TOKEN = "test-token-not-a-secret"
FAST = {
    "poll_interval_s": 0.005,
    "retry_backoff_s": 0.005,
    "progress_every_s": 0.02,
    "operation_timeout_s": 30.0,
}


@pytest.fixture
def fake_arm(request: pytest.FixtureRequest) -> Iterator[FakeArmServer]:
    """A fake ARM accepting only the test token; tests turn its knobs (fake_arm.fake.behaviour)
    before they provision."""
    with running_fake_arm(FakeArmBehaviour(expected_token=TOKEN)) as server:
        yield server


@pytest.fixture
def subscription() -> str:
    return SUBSCRIPTION


@pytest.fixture
def settings_for(fake_arm: FakeArmServer) -> Callable[..., AksSettings]:
    """settings_for(aks_vm_size=[...], ...) -> AksSettings aimed at the fake ARM with the test token."""

    def build(environ: dict[str, str] | None = None, **values: Any) -> AksSettings:
        flags = {"aks_arm_endpoint": fake_arm.url, "aks_subscription": SUBSCRIPTION, **values}
        env = {"GPUCONF_ARM_TOKEN": TOKEN, "GPUCONF_OWNER": "tester"} if environ is None else environ
        return resolve(flags, env, **FAST)

    return build


@pytest.fixture
def progress() -> ProgressLog:
    return ProgressLog(stream=io.StringIO())


@pytest.fixture
def backend_for(
    settings_for: Callable[..., AksSettings], progress: ProgressLog
) -> Iterator[Callable[..., AksBackend]]:
    """backend_for(**flag values) -> AksBackend; every backend made is torn down at the end."""
    made: list[AksBackend] = []

    def build(**values: Any) -> AksBackend:
        backend = AksBackend(settings_for(**values), progress=progress)
        made.append(backend)
        return backend

    yield build
    for backend in made:
        backend.teardown()
