"""The kind tier's images and manifests fit together: the manifests run the images the Dockerfiles
build, with the article's names, mounts and GPU request, and every path a Dockerfile copies exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def load(relative: str) -> dict:
    return yaml.safe_load((ROOT / relative).read_text())


def built_tag(dockerfile: str) -> str:
    match = re.search(r"docker build -f \S+ -t (\S+) \.", (ROOT / dockerfile).read_text())
    assert match, f"{dockerfile} must document its build command"
    return match[1]


def test_dockerfiles_copy_existing_paths_and_run_our_modules() -> None:
    for dockerfile, module in [
        ("images/device-plugin/Dockerfile", "gpuconf.deviceplugin"),
        ("images/workload/Dockerfile", "gpuconf.workload.mnist"),
    ]:
        text = (ROOT / dockerfile).read_text()
        for source in re.findall(r"^COPY (\S+) ", text, re.MULTILINE):
            assert (ROOT / source).exists(), f"{dockerfile} copies missing {source}"
        assert f'ENTRYPOINT ["python", "-m", "{module}"]' in text
        ignore = (ROOT / f"{dockerfile}.dockerignore").read_text()
        assert ignore.splitlines()[1] == "*", "the build context must be an allowlist (no .venv)"


def test_fake_plugin_daemonset_mirrors_the_article_with_our_image() -> None:
    article, ours = (
        load("manifests/article/nvidia-device-plugin-ds.yaml"),
        load("manifests/kind/fake-device-plugin-ds.yaml"),
    )
    assert (ours["metadata"], ours["spec"]["selector"]) == (article["metadata"], article["spec"]["selector"])
    container = ours["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == built_tag("images/device-plugin/Dockerfile")
    mount = container["volumeMounts"][0]
    volume = next(v for v in ours["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"])
    assert mount["mountPath"] == volume["hostPath"]["path"] == "/var/lib/kubelet/device-plugins"
    assert container["args"] == ["--mode", "fake", "--socket-dir", mount["mountPath"]]
    assert {e["name"] for e in container["env"]} == {"GPUCONF_FAKE_GPU_COUNT", "GPUCONF_FAKE_GPU_PRODUCT"}


def test_offline_job_mirrors_the_article_with_our_image() -> None:
    article, ours = (
        load("manifests/article/samples-tf-mnist-demo.yaml"),
        load("manifests/kind/offline-mnist-job.yaml"),
    )
    assert ours["metadata"] == article["metadata"]
    theirs_c = article["spec"]["template"]["spec"]["containers"][0]
    ours_c = ours["spec"]["template"]["spec"]["containers"][0]
    assert ours_c["image"] == built_tag("images/workload/Dockerfile")
    assert ours_c["args"] == theirs_c["args"] == ["--max_steps", "500"]
    assert ours_c["resources"]["limits"] == {"nvidia.com/gpu": 1}


@pytest.mark.parametrize(
    ("name", "module", "rest"),
    [("cuda-vectoradd", "vectoradd", []), ("nvidia-smi", "nvidia_smi", ["-L"])],
)
def test_gpu_check_pods_mirror_their_originals_with_our_image(
    name: str, module: str, rest: list[str]
) -> None:
    original, ours = load(f"manifests/workloads/{name}.yaml"), load(f"manifests/kind/{name}.yaml")
    assert ours["metadata"] == original["metadata"] == {"name": name, "labels": {"app": name}}
    assert ours["spec"]["restartPolicy"] == original["spec"]["restartPolicy"]
    theirs_c, ours_c = original["spec"]["containers"][0], ours["spec"]["containers"][0]
    assert ours_c["image"] == built_tag("images/workload/Dockerfile")
    assert ours_c["imagePullPolicy"] == "IfNotPresent"
    assert ours_c["command"] == ["python", "-m", f"gpuconf.workload.{module}", *rest]
    assert (ROOT / f"gpuconf/workload/{module}.py").is_file()  # the Dockerfile copies gpuconf/workload/
    assert ours_c["resources"]["limits"] == theirs_c["resources"]["limits"] == {"nvidia.com/gpu": 1}
