"""The embedded Kubernetes API server: aiohttp on 127.0.0.1, backed by the in-memory Store.

`ApiServer` is what the CLI, the emulated cluster and tests start. Extension points:
- `startup_hooks` / `shutdown_hooks`: async callables `(server) -> None` run after the socket is
  listening / before it closes (controllers and kubelets hang off these);
- `request_faults`: callables `(request) -> ApiError | None` consulted before every request, so a
  fault injector can make the server answer 500/429 for a while;
- `drop_watches()`: close every open watch (clients must resume from their last resourceVersion);
- `set_log_provider(provider)`: where `pods/{name}/log` finds container output.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from gpuconf.emulator import discovery, openapi
from gpuconf.emulator.garbage_collector import GarbageCollector
from gpuconf.emulator.handlers import handle_resource, json_response
from gpuconf.emulator.interface import ApiError, PodLogProvider
from gpuconf.emulator.kubeconfig import write_kubeconfig
from gpuconf.emulator.namespace_finalizer import NamespaceFinalizer
from gpuconf.emulator.store import Store
from gpuconf.emulator.watch import Subscription

log = logging.getLogger(__name__)

RequestFault = Callable[[web.Request], ApiError | None]
Hook = Callable[["ApiServer"], Awaitable[None]]

# kube-apiserver's --max-request-body-bytes default (3 MiB); bigger bodies get 413.
MAX_REQUEST_BODY_BYTES = 3 * 1024 * 1024
# How long stop() lets in-flight requests finish after watches and log streams were told to end.
SHUTDOWN_GRACE_SECONDS = 2.0
# Bookmarks tell idle watchers the current resourceVersion; a real server sends one about a minute
# apart, the emulator more often so that short tests can observe them.
DEFAULT_BOOKMARK_INTERVAL_SECONDS = 1.0


def status_response(error: ApiError) -> web.Response:
    response = json_response(error.status(), error.code)
    if error.retry_after_seconds is not None:
        response.headers["Retry-After"] = str(error.retry_after_seconds)
    return response


class ApiServer:
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        store: Store | None = None,
        bookmark_interval: float = DEFAULT_BOOKMARK_INTERVAL_SECONDS,
    ) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"the emulated API server only listens on loopback, not {host!r}")
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be 0..65535, got {port}")
        self.host = host
        self.port = port
        self.store = store or Store()
        self.bookmark_interval = bookmark_interval
        self.request_faults: list[RequestFault] = []
        self.startup_hooks: list[Hook] = []
        self.shutdown_hooks: list[Hook] = []
        self.open_watches: set[Subscription] = set()
        self.log_provider: PodLogProvider | None = None
        self.stopping = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._gc: GarbageCollector | None = None
        self._namespaces: NamespaceFinalizer | None = None

    # --- lifecycle ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._runner is None:
            raise RuntimeError("the API server is not started")
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        self._gc = GarbageCollector(self.store)
        self._gc.start()
        self._namespaces = NamespaceFinalizer(self.store)
        self._namespaces.start()
        app = web.Application(middlewares=[self._middleware], client_max_size=MAX_REQUEST_BODY_BYTES)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_GRACE_SECONDS)
        try:
            await self._runner.setup()
            site = web.TCPSite(self._runner, self.host, self.port)
            await site.start()
            self.port = self._runner.addresses[0][1]  # the port the OS chose when asked for 0
            for hook in self.startup_hooks:
                await hook(self)
        except BaseException:
            await self.stop()  # a port in use must not leave the collector tasks running
            raise

    async def stop(self) -> None:
        self.stopping.set()
        for hook in reversed(self.shutdown_hooks):
            try:
                await hook(self)
            except Exception:  # one failing hook must not keep the socket open
                log.exception("shutdown hook %r failed", hook)
        self.drop_watches()
        if self._runner is not None:
            await self._runner.cleanup()
        for component in (self._gc, self._namespaces):
            if component is not None:
                await component.stop()

    def write_kubeconfig(self, path: Path | str) -> Path:
        return write_kubeconfig(Path(path), self.url)

    def set_log_provider(self, provider: PodLogProvider | None) -> None:
        self.log_provider = provider

    def drop_watches(self) -> int:
        """Close every open watch; returns how many there were."""
        return self.store.close_all_watches()

    # --- HTTP ---------------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Callable[..., Awaitable[web.StreamResponse]]):
        try:
            for fault in list(self.request_faults):
                injected = fault(request)
                if injected is not None:
                    raise injected
            return await handler(request)
        except ApiError as error:
            return status_response(error)
        except web.HTTPException as error:  # aiohttp's own refusals: body too large, bad method...
            reason = "RequestEntityTooLarge" if error.status == 413 else "BadRequest"
            return status_response(ApiError(error.status, reason, error.reason or error.text or reason))
        except RecursionError:  # a hostile body nested past what any algorithm here walks
            return status_response(ApiError(400, "BadRequest", "the request body is nested too deeply"))
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except Exception:
            log.exception("internal error serving %s %s", request.method, request.path_qs)
            return status_response(
                ApiError(500, "InternalError", "an internal error occurred in the emulated API server")
            )

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        document = self._discovery(request, path)
        if document is not None:
            if request.method != "GET":
                raise ApiError(405, "MethodNotAllowed", f"the server does not allow this method on {path}")
            return document
        return await handle_resource(self, request)

    def _discovery(self, request: web.Request, path: str) -> web.StreamResponse | None:
        parts = [p for p in path.split("/") if p]
        accept = request.headers.get("Accept", "")
        if path in ("/healthz", "/livez", "/readyz"):
            return web.Response(text="ok", content_type="text/plain")
        if path == "/version":
            return json_response(discovery.version_info())
        if path in ("/api", "/apis"):
            if discovery.wants_aggregated(accept):
                response = json_response(discovery.aggregated(legacy=path == "/api"))
                response.headers["Content-Type"] = discovery.AGGREGATED_V2
                return response
            return json_response(
                discovery.api_versions(f"{self.host}:{self.port}")
                if path == "/api"
                else discovery.api_group_list()
            )
        if parts == ["api", "v1"] or (len(parts) == 3 and parts[0] == "apis"):
            group, version = ("", "v1") if parts[0] == "api" else (parts[1], parts[2])
            return json_response(self._or_404(discovery.resource_list(group, version)))
        if len(parts) == 2 and parts[0] == "apis":
            return json_response(self._or_404(discovery.api_group(parts[1])))
        if parts[:2] == ["openapi", "v3"]:
            if len(parts) == 2:
                return json_response(openapi.root_document())
            rest = parts[2:]
            if rest[:1] == ["api"] and len(rest) == 2:
                return json_response(self._or_404(openapi.group_version_document("", rest[1])))
            if rest[:1] == ["apis"] and len(rest) == 3:
                return json_response(self._or_404(openapi.group_version_document(rest[1], rest[2])))
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if parts[:1] in (["openapi"], ["swagger.json"]):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if len(parts) < 2 or parts[0] not in ("api", "apis"):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return None

    @staticmethod
    def _or_404(document: dict | None) -> dict:
        if document is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return document
