"""The emulator's wire-schema snapshot is what the installed official client's models say."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from gpuconf.emulator import wire_schema
from gpuconf.emulator.resources import RESOURCES


def test_the_snapshot_matches_the_installed_official_client() -> None:
    current = wire_schema.from_client(wire_schema.root_models())
    assert current == wire_schema.load(), (
        f"{wire_schema.SNAPSHOT.name} is stale for the installed kubernetes package: {wire_schema.REGENERATE}"
    )


def test_every_served_resource_and_every_model_it_names_is_in_the_snapshot() -> None:
    snapshot = wire_schema.load()
    assert {resource.model for resource in RESOURCES} <= snapshot.keys()
    named = {
        word
        for fields in snapshot.values()
        for typ in fields.values()
        for word in wire_schema.TYPE_WORD.findall(typ)
        if wire_schema._names_a_model(word)
    }
    assert named <= snapshot.keys()
    assert snapshot["V1ResourceRequirements"]["limits"] == "Dict[str, str]"  # where nvidia.com/gpu goes
    assert snapshot["V1PodSpec"]["tolerations"] == "List[V1Toleration]"


def test_a_model_missing_from_the_snapshot_says_how_to_regenerate() -> None:
    with pytest.raises(KeyError, match="V1CronJob is not in wire_schema.json.*--write"):
        wire_schema.fields("V1CronJob")


def test_the_emulated_api_server_starts_without_importing_the_official_client() -> None:
    code = (
        "import sys, gpuconf.emulator.server, gpuconf.emulator.cluster, gpuconf.emulator.schema as s;"
        "s.decode({'metadata': {'name': 'n'}}, 'V1Node', 'Node', 'v1');"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'kubernetes'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out.replace("'", '"')) == []
