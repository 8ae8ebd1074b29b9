"""The kind backend without Docker: its image builds are well formed and the run says `unavailable`.

The kind path itself (create, load, install the fake plugin) needs a Docker engine and was never run
here; .github/workflows/kind.yml runs it on a Docker host.
"""

from __future__ import annotations

from pathlib import Path

from gpuconf.backends.kind import IMAGES, build_commands, docker_available

MANIFESTS = Path(__file__).resolve().parents[2] / "manifests" / "kind"


def test_build_commands_name_each_image_and_an_existing_dockerfile() -> None:
    commands = build_commands()
    assert {command[command.index("-t") + 1] for command in commands} == set(IMAGES)
    for command in commands:
        assert command[:2] == ["docker", "build"]
        assert Path(command[command.index("-f") + 1]).is_file(), command


def test_the_manifests_kind_installs_exist() -> None:
    assert (MANIFESTS / "fake-device-plugin-ds.yaml").is_file()
    assert (MANIFESTS / "offline-mnist-job.yaml").is_file()


def test_without_a_docker_engine_every_step_is_unavailable(run_suites, monkeypatch, tmp_path: Path) -> None:
    # An empty PATH hides any docker client, so this holds on a Docker host too.
    monkeypatch.setenv("PATH", str(tmp_path))
    assert docker_available() == "no docker client on PATH"
    result = run_suites("--cluster", "kind")
    result.stdout.fnmatch_lines(["UNAVAILABLE*kind needs a Docker engine*"])
    assert "Traceback" not in result.stdout.str()
