"""The v1beta1 device plugin stubs, generated from api.proto when this module is imported.

Generated *_pb2.py files carry a hard floor on the grpcio/protobuf versions that produced them, so
a fresh install with other versions can break on import. Generating in memory with the installed
grpcio-tools (pinned to the same release as grpcio) makes the stubs match the runtime by
construction; it costs ~30 ms once per process and writes no files.

    pb2       the message classes (pb2.RegisterRequest, pb2.Device, ...)
    pb2_grpc  the services (pb2_grpc.RegistrationStub, pb2_grpc.add_DevicePluginServicer_to_server, ...)
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import grpc  # type: ignore[import-untyped]  # grpcio ships no type information

VERSION = "v1beta1"
KUBELET_SOCKET = "kubelet.sock"
DEFAULT_SOCKET_DIR = "/var/lib/kubelet/device-plugins"
HEALTHY = "Healthy"
UNHEALTHY = "Unhealthy"

# grpc resolves this like an import, along sys.path (pyproject ships **/*.proto as package data).
PROTO = "gpuconf/deviceplugin/api.proto"
# The directory holding *this* gpuconf package: the checkout root, or site-packages for a wheel.
# An editable install finds gpuconf through an import hook, with no sys.path entry for it.
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


def _generate() -> tuple[Any, Any]:
    # First on sys.path while generating, so the .proto next to this file is the one compiled even
    # when another gpuconf (an older checkout, a wheel) is also on sys.path; removed right after, so
    # nothing else is ever imported from there because of us.
    sys.path.insert(0, _PACKAGE_ROOT)
    try:
        return grpc.protos_and_services(PROTO)
    finally:
        sys.path.remove(_PACKAGE_ROOT)


pb2, pb2_grpc = _generate()
