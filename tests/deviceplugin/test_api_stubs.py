"""The v1beta1 stubs are generated at import time and match the upstream wire format."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gpuconf.deviceplugin import api

ROOT = Path(__file__).resolve().parents[2]


def test_stubs_import_in_a_fresh_process_without_generated_files(tmp_path: Path) -> None:
    # A clean interpreter with bytecode caching redirected to an empty dir: nothing generated or
    # cached earlier may help, and the package must not ship *_pb2.py files.
    assert not list((ROOT / "gpuconf/deviceplugin").glob("*_pb2*.py"))
    code = (
        "from gpuconf.deviceplugin import api;"
        "import grpc, google.protobuf;"
        "r = api.pb2.RegisterRequest(version=api.VERSION, endpoint='x.sock', resource_name='nvidia.com/gpu');"
        "assert api.pb2.RegisterRequest.FromString(r.SerializeToString()) == r;"
        "assert hasattr(api.pb2_grpc, 'DevicePluginStub') and hasattr(api.pb2_grpc, 'RegistrationServicer');"
        "print('ok', grpc.__version__, google.protobuf.__version__)"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPYCACHEPREFIX": str(tmp_path), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok ")
    assert not list((ROOT / "gpuconf/deviceplugin").glob("*_pb2*.py"))


def test_stubs_generate_when_gpuconf_is_found_by_an_import_hook_not_sys_path(tmp_path: Path) -> None:
    # What an editable install does: gpuconf is importable, its parent directory is not on sys.path.
    code = (
        "import importlib.util, sys;"
        f"root = {str(ROOT)!r};"
        "sys.path[:] = [p for p in sys.path if p not in ('', root)];"
        "spec = importlib.util.spec_from_file_location("
        "'gpuconf', root + '/gpuconf/__init__.py', submodule_search_locations=[root + '/gpuconf']);"
        "module = importlib.util.module_from_spec(spec); sys.modules['gpuconf'] = module;"
        "spec.loader.exec_module(module);"
        "from gpuconf.deviceplugin import api;"
        "assert root not in sys.path;"
        "print(api.pb2.Device(ID='GPU-1').ID)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "GPU-1"


def _fields(message: str) -> dict[str, int]:
    return {f.name: f.number for f in api.pb2.DESCRIPTOR.message_types_by_name[message].fields}


def test_field_numbers_match_upstream_v1beta1() -> None:
    assert api.pb2.DESCRIPTOR.package == "v1beta1"
    assert _fields("RegisterRequest") == {"version": 1, "endpoint": 2, "resource_name": 3, "options": 4}
    assert _fields("DevicePluginOptions") == {
        "pre_start_required": 1,
        "get_preferred_allocation_available": 2,
    }
    assert _fields("ListAndWatchResponse") == {"devices": 1}
    assert _fields("Device") == {"ID": 1, "health": 2, "topology": 3}
    assert _fields("TopologyInfo") == {"nodes": 1}
    assert _fields("NUMANode") == {"ID": 1}
    assert _fields("AllocateRequest") == {"container_requests": 1}
    assert _fields("ContainerAllocateRequest") == {"devices_ids": 1}
    assert _fields("AllocateResponse") == {"container_responses": 1}
    assert _fields("ContainerAllocateResponse") == {
        "envs": 1,
        "mounts": 2,
        "devices": 3,
        "annotations": 4,
        "cdi_devices": 5,
    }
    assert _fields("Mount") == {"container_path": 1, "host_path": 2, "read_only": 3}
    assert _fields("DeviceSpec") == {"container_path": 1, "host_path": 2, "permissions": 3}
    assert _fields("CDIDevice") == {"name": 1}
    assert _fields("ContainerPreferredAllocationRequest") == {
        "available_deviceIDs": 1,
        "must_include_deviceIDs": 2,
        "allocation_size": 3,
    }
    assert _fields("ContainerPreferredAllocationResponse") == {"deviceIDs": 1}
    assert _fields("PreStartContainerRequest") == {"devices_ids": 1}


def test_method_paths_match_upstream_v1beta1() -> None:
    services = api.pb2.DESCRIPTOR.services_by_name
    paths = {f"/{s.full_name}/{m.name}" for s in services.values() for m in s.methods}
    assert paths == {
        "/v1beta1.Registration/Register",
        "/v1beta1.DevicePlugin/GetDevicePluginOptions",
        "/v1beta1.DevicePlugin/ListAndWatch",
        "/v1beta1.DevicePlugin/GetPreferredAllocation",
        "/v1beta1.DevicePlugin/Allocate",
        "/v1beta1.DevicePlugin/PreStartContainer",
    }
    list_and_watch = services["DevicePlugin"].methods_by_name["ListAndWatch"]
    assert list_and_watch.server_streaming and not list_and_watch.client_streaming
