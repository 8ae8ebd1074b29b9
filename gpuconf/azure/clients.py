"""Azure SDK clients built from AksSettings: which credential, which endpoint, how fast to poll.

The credential is DefaultAzureCredential unless GPUCONF_ARM_TOKEN holds a bearer token (CI runners
that already have one, and the loopback fake ARM). Plain http is only ever accepted for loopback
endpoints (settings enforce that); for those we lift azure-core's https-only rule for bearer
tokens, which would otherwise refuse to send the token at all.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from azure.core.credentials import AccessToken, AccessTokenInfo, TokenCredential
from azure.core.pipeline import PipelineRequest
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.mgmt.containerservice import ContainerServiceClient
from azure.mgmt.resource.resources import ResourceManagementClient

from gpuconf.azure.settings import AksSettings, is_loopback_host

STATIC_TOKEN_LIFETIME_S = 3600  # we cannot know a static token's expiry; ARM answers 401 when it lapses


class StaticTokenCredential:
    """A bearer token handed to us (GPUCONF_ARM_TOKEN); satisfies azure-core's TokenCredential."""

    description = "GPUCONF_ARM_TOKEN (static bearer token)"

    def __init__(self, token: str) -> None:
        self._token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self._token, int(time.time()) + STATIC_TOKEN_LIFETIME_S)

    def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        return AccessTokenInfo(self._token, int(time.time()) + STATIC_TOKEN_LIFETIME_S)


class _AllowLoopbackHttp(SansIOHTTPPolicy):  # type: ignore[type-arg]
    """Lets the bearer-token policy talk plain http to a loopback ARM (tests, the offline rehearsal)."""

    def on_request(self, request: PipelineRequest) -> None:  # type: ignore[type-arg]
        request.context["enforce_https"] = False


@dataclass
class ArmClients:
    resources: ResourceManagementClient
    aks: ContainerServiceClient
    credential_description: str

    def close(self) -> None:
        self.resources.close()
        self.aks.close()


def make_credential(settings: AksSettings) -> tuple[TokenCredential, str]:
    """The credential and the words that name it in an authentication-failure line."""
    if settings.arm_token:
        return StaticTokenCredential(settings.arm_token), StaticTokenCredential.description
    from azure.identity import (
        DefaultAzureCredential,
    )  # imported late: it is slow and only the live tier needs it

    return DefaultAzureCredential(), "DefaultAzureCredential"


def make_clients(settings: AksSettings, credential: TokenCredential, description: str) -> ArmClients:
    if not settings.subscription:
        raise ValueError("make_clients needs settings.subscription")
    endpoint = settings.arm_endpoint
    url = urlparse(endpoint)
    common: dict[str, Any] = {
        "base_url": endpoint,
        # The token audience is the ARM endpoint itself: right for public and sovereign clouds.
        "credential_scopes": [f"{url.scheme}://{url.netloc}/.default"],
        "polling_interval": settings.poll_interval_s,
        "retry_backoff_factor": settings.retry_backoff_s,
    }
    if url.scheme == "http" and is_loopback_host(url.hostname or ""):
        common["per_call_policies"] = [_AllowLoopbackHttp()]
    return ArmClients(
        resources=ResourceManagementClient(credential, settings.subscription, **common),
        aks=ContainerServiceClient(credential, settings.subscription, **common),
        credential_description=description,
    )
