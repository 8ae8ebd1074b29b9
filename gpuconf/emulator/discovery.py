"""Discovery documents: /version, /api, /apis, per-group-version resource lists, aggregated v2.

All generated from the resource table, so discovery can never advertise something the router does
not serve (or miss something it does).
"""

from __future__ import annotations

import platform
from typing import Any

from gpuconf.emulator.resources import ALL_VERBS, RESOURCES, SUBRESOURCE_VERBS, ResourceType

Obj = dict[str, Any]

# Honest about being emulated (a semver pre-release suffix, which kubectl and the Python client
# accept); 1.36 keeps kubectl 1.37 within its supported +/-1 minor skew, so it prints no warning.
EMULATED_VERSION = {"major": "1", "minor": "36", "gitVersion": "v1.36.0-gpuconf-emulated"}
AGGREGATED_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


def version_info() -> Obj:
    return {
        **EMULATED_VERSION,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "n/a (gpuconf emulator, Python " + platform.python_version() + ")",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def _groups() -> dict[str, list[ResourceType]]:
    groups: dict[str, list[ResourceType]] = {}
    for rt in RESOURCES:
        groups.setdefault(rt.group, []).append(rt)
    return groups


def _legacy_entries(rt: ResourceType) -> list[Obj]:
    entries = [
        {
            "name": rt.plural,
            "singularName": rt.singular,
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": list(ALL_VERBS),
            "shortNames": list(rt.short_names),
            "categories": list(rt.categories),
            "storageVersionHash": "",
        }
    ]
    for sub in rt.subresources:
        kind = {"log": "Pod", "binding": "Binding"}.get(sub, rt.kind)
        entries.append(
            {
                "name": f"{rt.plural}/{sub}",
                "singularName": "",
                "namespaced": rt.namespaced,
                "kind": kind,
                "verbs": list(SUBRESOURCE_VERBS[sub]),
            }
        )
    for entry in entries:
        if not entry.get("shortNames"):
            entry.pop("shortNames", None)
        if not entry.get("categories"):
            entry.pop("categories", None)
    return entries


def resource_list(group: str, version: str) -> Obj | None:
    members = [rt for rt in RESOURCES if rt.group_version == (group, version)]
    if not members:
        return None
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": [entry for rt in members for entry in _legacy_entries(rt)],
    }


def api_versions(server_address: str) -> Obj:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def _group_doc(group: str, members: list[ResourceType]) -> Obj:
    versions = sorted({rt.version for rt in members})
    entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": entries, "preferredVersion": entries[0]}


def api_group_list() -> Obj:
    groups = [_group_doc(g, m) for g, m in _groups().items() if g]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(group: str) -> Obj | None:
    members = _groups().get(group)
    if not group or not members:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_doc(group, members)}


def _aggregated_resource(rt: ResourceType) -> Obj:
    response = {"group": rt.group, "version": rt.version, "kind": rt.kind}
    entry: Obj = {
        "resource": rt.plural,
        "responseKind": response,
        "scope": "Namespaced" if rt.namespaced else "Cluster",
        "singularResource": rt.singular,
        "verbs": list(ALL_VERBS),
        "subresources": [
            {
                "subresource": sub,
                "responseKind": {"group": "", "version": "v1", "kind": "Binding"}
                if sub == "binding"
                else response,
                "verbs": list(SUBRESOURCE_VERBS[sub]),
            }
            for sub in rt.subresources
        ],
    }
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.categories:
        entry["categories"] = list(rt.categories)
    return entry


def aggregated(legacy: bool) -> Obj:
    """The APIGroupDiscoveryList for /api (legacy=True) or /apis."""
    items = []
    for group, members in _groups().items():
        if (group == "") != legacy:
            continue
        versions = sorted({rt.version for rt in members})
        items.append(
            {
                "metadata": {"name": group, "creationTimestamp": None},
                "versions": [
                    {
                        "version": v,
                        "freshness": "Current",
                        "resources": [_aggregated_resource(rt) for rt in members if rt.version == v],
                    }
                    for v in versions
                ],
            }
        )
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    }


def wants_aggregated(accept: str) -> bool:
    """True when the client's Accept header asks for aggregated discovery v2 (kubectl does)."""
    for part in accept.split(","):
        params = {p.strip() for p in part.split(";")[1:]}
        if {"g=apidiscovery.k8s.io", "v=v2", "as=APIGroupDiscoveryList"} <= params:
            return True
    return False
