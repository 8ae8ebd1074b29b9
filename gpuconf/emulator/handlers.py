"""Resource verbs over HTTP: every handler decodes the request and calls the Store (ClusterAPI).

No semantics live here beyond HTTP: status codes, content negotiation (JSON, Table), streaming
watches and logs. Validation, defaulting and deletion rules are the store's.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import yaml
from aiohttp import web

from gpuconf.emulator import podlogs, schema
from gpuconf.emulator.interface import ApiError
from gpuconf.emulator.protobuf_body import PROTOBUF, decode_protobuf_object
from gpuconf.emulator.resources import ResourceType
from gpuconf.emulator.routing import (
    Target,
    bool_param,
    decode_continue,
    encode_continue,
    int_param,
    parse_path,
    resource_version_param,
)
from gpuconf.emulator.tables import to_table
from gpuconf.emulator.watch import WatchEvent

if TYPE_CHECKING:
    from gpuconf.emulator.server import ApiServer

Obj = dict[str, Any]

# kube-apiserver's default --min-request-timeout is 1800 s; a watch without timeoutSeconds lasts that.
DEFAULT_WATCH_TIMEOUT_SECONDS = 1800
INITIAL_EVENTS_END = "k8s.io/initial-events-end"


def json_response(body: Obj, status: int = 200, warnings: list[str] | None = None) -> web.Response:
    response = web.Response(
        body=json.dumps(body, separators=(",", ":")).encode(), status=status, content_type="application/json"
    )
    for warning in warnings or []:
        escaped = warning.replace("\\", "\\\\").replace('"', '\\"')
        response.headers.add("Warning", f'299 - "{escaped}"')
    return response


def wants_table(request: web.Request) -> bool:
    return any("as=Table" in part for part in request.headers.get("Accept", "").split(","))


async def decode_body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw.strip():
        raise ApiError(400, "BadRequest", "the request body is empty")
    media = request.content_type.lower()
    if media == PROTOBUF:
        return decode_protobuf_object(raw)
    try:
        if media in ("application/yaml", "application/x-yaml", "text/yaml"):
            return schema.check_depth(yaml.safe_load(raw))
        if media in ("application/json", "application/octet-stream", "text/plain", ""):
            return schema.check_depth(json.loads(raw, parse_constant=_reject_constant))
    except (ValueError, yaml.YAMLError, RecursionError, UnicodeDecodeError) as error:
        raise ApiError(400, "BadRequest", f"couldn't get version/kind; json parse error: {error}") from None
    raise ApiError(
        415,
        "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted "
        "media types include: application/json, application/yaml",
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid JSON literal {name}")


def _write_options(request: web.Request) -> dict[str, Any]:
    query = request.query
    dry_run = query.getall("dryRun", [])
    if any(value != "All" for value in dry_run):
        raise ApiError(400, "BadRequest", 'dryRun: Unsupported value: only "All" is supported')
    return {
        "field_validation": schema.check_field_validation(query.get("fieldValidation")),
        "dry_run": bool(dry_run),
    }


async def handle_resource(server: ApiServer, request: web.Request) -> web.StreamResponse:
    target = parse_path(request.path)
    method = request.method
    if target.rt.plural == "pods" and target.subresource == "log":
        if method != "GET":
            raise _method_not_allowed(method, target)
        return await _logs(server, request, target)
    if target.subresource == "binding":
        if method != "POST":
            raise _method_not_allowed(method, target)
        return await _binding(server, request, target)
    if target.name is None:
        if method == "GET":
            if bool_param(request.query, "watch"):
                return await _watch(server, request, target)
            return _list(server, request, target)
        if method == "POST":
            return await _create(server, request, target)
        if method == "DELETE":
            return await _delete_collection(server, request, target)
        raise _method_not_allowed(method, target)
    if method == "GET" and target.subresource is None and bool_param(request.query, "watch"):
        return await _watch(server, request, target)
    if method == "GET":
        obj = server.store.get(target.rt.plural, target.name, namespace=target.namespace)
        if wants_table(request):
            return json_response(
                to_table(target.rt, [obj], include_object=request.query.get("includeObject", "Metadata"))
            )
        return json_response(obj)
    if method == "PUT":
        return await _update(server, request, target)
    if method == "PATCH":
        return await _patch(server, request, target)
    if method == "DELETE" and target.subresource is None:
        return await _delete(server, request, target)
    raise _method_not_allowed(method, target)


def _method_not_allowed(method: str, target: Target) -> ApiError:
    where = target.rt.plural + (f"/{target.subresource}" if target.subresource else "")
    return ApiError(
        405,
        "MethodNotAllowed",
        f"the server does not allow this method on the requested resource ({method} {where})",
    )


def _list_kind(rt: ResourceType) -> str:
    return f"{rt.kind}List"


def _list(server: ApiServer, request: web.Request, target: Target) -> web.Response:
    query = request.query
    limit = int_param(query, "limit") or 0
    if limit < 0:
        raise ApiError(400, "BadRequest", "limit: must be non-negative")
    after = None
    token = query.get("continue")
    if token:
        token_rv, after = decode_continue(token)
        if token_rv < server.store.compacted_resource_version:
            raise ApiError(
                410,
                "Expired",
                "The provided continue parameter is too old to display a consistent list "
                "result. You can start a new list without the continue parameter.",
            )
    resource_version_param(query)  # validated; lists always serve the latest state
    items, rv, remaining = server.store.list_page(
        target.rt.plural,
        namespace=target.namespace,
        label_selector=query.get("labelSelector", ""),
        field_selector=query.get("fieldSelector", ""),
        limit=limit,
        after=after,
    )
    meta: Obj = {"resourceVersion": str(rv)}
    if remaining:
        last = items[-1]["metadata"]
        meta["continue"] = encode_continue(rv, last.get("namespace", ""), last["name"])
        meta["remainingItemCount"] = remaining
    if wants_table(request):
        return json_response(
            to_table(target.rt, items, include_object=query.get("includeObject", "Metadata"), list_meta=meta)
        )
    return json_response(
        {"kind": _list_kind(target.rt), "apiVersion": target.rt.api_version, "metadata": meta, "items": items}
    )


async def _create(server: ApiServer, request: web.Request, target: Target) -> web.Response:
    body = await decode_body(request)
    warnings: list[str] = []
    created = server.store.create(
        target.rt.plural, body, namespace=target.namespace, warnings=warnings, **_write_options(request)
    )
    return json_response(created, 201, warnings)


async def _update(server: ApiServer, request: web.Request, target: Target) -> web.Response:
    body = await decode_body(request)
    warnings: list[str] = []
    updated = server.store.update(
        target.rt.plural,
        body,
        namespace=target.namespace,
        name=target.name,
        subresource=target.subresource,
        warnings=warnings,
        **_write_options(request),
    )
    return json_response(updated, 200, warnings)


async def _patch(server: ApiServer, request: web.Request, target: Target) -> web.Response:
    body = await request.read()
    query = request.query
    content_type = request.headers.get("Content-Type", "")
    field_manager = query.get("fieldManager")
    if content_type.startswith("application/apply-patch") and not field_manager:
        raise ApiError(
            422,
            "Invalid",
            'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: '
            "is required for apply patch",
        )
    warnings: list[str] = []
    assert target.name is not None
    patched = server.store.patch(
        target.rt.plural,
        target.name,
        body,
        content_type,
        namespace=target.namespace,
        subresource=target.subresource,
        field_manager=field_manager,
        force=bool_param(query, "force"),
        warnings=warnings,
        **_write_options(request),
    )
    return json_response(patched, 200, warnings)


async def _delete_options(request: web.Request) -> Obj:
    raw = await request.read()
    options: Obj = {}
    if raw.strip():
        try:
            options = json.loads(raw)
        except (ValueError, RecursionError, UnicodeDecodeError) as error:
            raise ApiError(400, "BadRequest", f"invalid DeleteOptions: {error}") from None
        if not isinstance(options, dict):
            raise ApiError(400, "BadRequest", "invalid DeleteOptions: must be a JSON object")
    query = request.query
    policy = query.get("propagationPolicy") or options.get("propagationPolicy")
    if policy is None and (bool_param(query, "orphanDependents") or options.get("orphanDependents") is True):
        policy = "Orphan"
    grace = int_param(query, "gracePeriodSeconds")
    if grace is None and options.get("gracePeriodSeconds") is not None:
        if not isinstance(options["gracePeriodSeconds"], int):
            raise ApiError(400, "BadRequest", "invalid DeleteOptions: gracePeriodSeconds must be an integer")
        grace = options["gracePeriodSeconds"]
    preconditions = options.get("preconditions")
    if preconditions is not None and not isinstance(preconditions, dict):
        raise ApiError(400, "BadRequest", "invalid DeleteOptions: preconditions must be an object")
    if policy is not None and not isinstance(policy, str):
        raise ApiError(400, "BadRequest", "invalid DeleteOptions: propagationPolicy must be a string")
    return {"propagation_policy": policy, "grace_period_seconds": grace, "preconditions": preconditions}


async def _delete(server: ApiServer, request: web.Request, target: Target) -> web.Response:
    options = await _delete_options(request)
    warnings: list[str] = []
    assert target.name is not None
    dry_run = _write_options(request)["dry_run"]
    result = server.store.delete(
        target.rt.plural,
        target.name,
        namespace=target.namespace,
        warnings=warnings,
        dry_run=dry_run,
        **options,
    )
    # kube-apiserver answers 200 even when deletion is pending (finalizers, graceful pod deletion).
    return json_response(result, 200, warnings)


async def _delete_collection(server: ApiServer, request: web.Request, target: Target) -> web.Response:
    options = await _delete_options(request)
    options.pop("preconditions")
    warnings: list[str] = []
    query = request.query
    results = server.store.delete_collection(
        target.rt.plural,
        namespace=target.namespace,
        label_selector=query.get("labelSelector", ""),
        field_selector=query.get("fieldSelector", ""),
        warnings=warnings,
        **options,
    )
    items = [r for r in results if r.get("kind") != "Status"]
    return json_response(
        {
            "kind": _list_kind(target.rt),
            "apiVersion": target.rt.api_version,
            "metadata": {"resourceVersion": str(server.store.resource_version)},
            "items": items,
        },
        200,
        warnings,
    )


async def _binding(server: ApiServer, request: web.Request, target: Target) -> web.Response:
    body = await decode_body(request)
    node = ((body or {}).get("target") or {}).get("name") if isinstance(body, dict) else None
    if not node:
        raise ApiError(422, "Invalid", 'Binding "" is invalid: target.name: Required value', kind="Binding")
    assert target.name is not None and target.namespace is not None
    server.store.bind(target.name, target.namespace, node)
    return json_response(
        {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}, 201
    )


async def _logs(server: ApiServer, request: web.Request, target: Target) -> web.StreamResponse:
    assert target.name is not None
    query = request.query
    pod = server.store.get("pods", target.name, namespace=target.namespace)
    container = podlogs.choose_container(pod, query.get("container"))
    previous = bool_param(query, "previous")
    follow = bool_param(query, "follow")
    timestamps = bool_param(query, "timestamps")
    tail_lines, limit_bytes = int_param(query, "tailLines"), int_param(query, "limitBytes")
    if (tail_lines is not None and tail_lines < 0) or (limit_bytes is not None and limit_bytes <= 0):
        raise ApiError(
            422, "Invalid", "PodLogOptions: tailLines must be >= 0 and limitBytes > 0", kind="PodLogOptions"
        )
    path = podlogs.resolve_log_file(server.log_provider, pod, container, previous=previous)
    snapshot_size = path.stat().st_size
    snapshot = podlogs.read_snapshot(
        path, tail_lines=tail_lines, timestamps=timestamps, limit_bytes=limit_bytes
    )
    if not follow or previous or server.log_provider is None:
        return web.Response(body=snapshot, content_type="text/plain")
    response = web.StreamResponse(headers={"Content-Type": "text/plain"})
    await response.prepare(request)
    await response.write(snapshot)
    async for chunk in podlogs.follow(
        server.log_provider,
        path,
        pod,
        container,
        start=snapshot_size,
        timestamps=timestamps,
        stop=server.stopping,
    ):
        await response.write(chunk)
    await response.write_eof()
    return response


def _bookmark(rt: ResourceType, rv: int, *, initial_events_end: bool = False) -> WatchEvent:
    meta: Obj = {"resourceVersion": str(rv)}
    if initial_events_end:
        meta["annotations"] = {INITIAL_EVENTS_END: "true"}
    return WatchEvent(
        type="BOOKMARK", object={"kind": rt.kind, "apiVersion": rt.api_version, "metadata": meta}
    )


def _as_table_event(rt: ResourceType, event: WatchEvent, include_object: str, headers: bool) -> WatchEvent:
    if event["type"] in ("BOOKMARK", "ERROR"):
        return event
    return WatchEvent(
        type=event["type"],
        object=to_table(rt, [event["object"]], include_object=include_object, headers=headers),
    )


async def _watch(server: ApiServer, request: web.Request, target: Target) -> web.StreamResponse:
    query = request.query
    rt = target.rt
    since = resource_version_param(query)
    send_initial = bool_param(query, "sendInitialEvents")
    bookmarks = bool_param(query, "allowWatchBookmarks")
    if send_initial and (query.get("resourceVersionMatch") != "NotOlderThan" or not bookmarks):
        raise ApiError(
            422,
            "Invalid",
            'ListOptions.meta.k8s.io "" is invalid: sendInitialEvents: Forbidden: '
            "sendInitialEvents requires setting resourceVersionMatch=NotOlderThan and "
            "allowWatchBookmarks=true",
            kind="ListOptions",
        )
    timeout = int_param(query, "timeoutSeconds")
    timeout = DEFAULT_WATCH_TIMEOUT_SECONDS if timeout is None or timeout <= 0 else timeout
    label_selector, field_selector = query.get("labelSelector", ""), query.get("fieldSelector", "")
    if target.name is not None:  # the legacy single-object watch path: a watch narrowed to that name
        field_selector = ",".join(f for f in (field_selector, f"metadata.name={target.name}") if f)
    initial: list[Obj] = []
    start_rv = 0
    error_event: WatchEvent | None = None
    # Listing and subscribing happen in one synchronous step: no change can fall between them.
    if send_initial or not since:
        initial, start_rv = server.store.list(
            rt.plural,
            namespace=target.namespace,
            label_selector=label_selector,
            field_selector=field_selector,
        )
        sub = server.store.subscribe(
            rt.plural,
            namespace=target.namespace,
            since=start_rv,
            label_selector=label_selector,
            field_selector=field_selector,
        )
    else:
        try:
            sub = server.store.subscribe(
                rt.plural,
                namespace=target.namespace,
                since=since,
                label_selector=label_selector,
                field_selector=field_selector,
            )
        except ApiError as error:
            if error.code != 410:
                raise
            sub = None
            error_event = WatchEvent(
                type="ERROR", object=error.status()
            )  # as kube-apiserver: 200 + ERROR event
    table = wants_table(request)
    include_object = query.get("includeObject", "Metadata")
    response = web.StreamResponse(
        headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    )
    await response.prepare(request)
    if sub is None:
        assert error_event is not None
        await response.write(error_event.encoded())
        return response
    server.open_watches.add(sub)
    headers = True
    try:
        for obj in initial:
            event = WatchEvent(type="ADDED", object=obj)
            await response.write(
                (_as_table_event(rt, event, include_object, headers) if table else event).encoded()
            )
            headers = False
        if send_initial:
            # The resourceVersion the initial events were listed at, not the store's current one:
            # changes made while they were being sent are queued in `sub` and follow the bookmark,
            # so a client that resumes from it (KEP-3157 watch-list) replays them instead of
            # skipping them.
            await response.write(_bookmark(rt, start_rv, initial_events_end=True).encoded())
        deadline = time.monotonic() + timeout
        while not server.stopping.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            wait = min(remaining, server.bookmark_interval) if bookmarks else remaining
            try:
                change = await sub.next_event(wait)
            except StopAsyncIteration:
                break  # closed: overflowed, dropped by drop_watches(), or server stopping
            if change is None:
                if bookmarks and sub.pending == 0:
                    await response.write(_bookmark(rt, server.store.resource_version).encoded())
                continue
            out = _as_table_event(rt, change, include_object, headers) if table else change
            headers = False
            await response.write(out.encoded())
    except ConnectionResetError:
        pass  # the client went away: nothing to finish
    finally:
        sub.close()
        server.open_watches.discard(sub)
    return response
