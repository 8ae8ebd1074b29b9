"""The image catalogue's GPU check images: which program each runs, and what GPUs it may see."""

from __future__ import annotations

import sys

import pytest

from gpuconf.emulator.runtime import images

START_ERROR = (
    "failed to create containerd task: failed to create shim task: OCI runtime create failed: "
    "runc create failed: unable to start container process: "
)
CUDA_IMAGE = "nvcr.io/nvidia/cuda:12.4.1-base-ubuntu22.04"
OWN_IMAGE = "gpuconf/workload:dev"


def argv_for(image: str, command: list[str] | None = None, args: list[str] | None = None) -> list[str]:
    container: dict = {"name": "c", "image": image}
    if command is not None:
        container["command"] = command
    if args is not None:
        container["args"] = args
    ctx = images.LaunchContext(container, {}, {}, None, 0)
    return images.build_program(images.resolve(image), ctx).argv


@pytest.mark.parametrize(
    ("image", "kind"),
    [
        ("nvcr.io/nvidia/k8s/cuda-sample:vectoradd-cuda12.5.0", images.VECTORADD),
        ("nvcr.io/nvidia/k8s/cuda-sample:vectoradd-cuda11.7.1-ubuntu20.04", images.VECTORADD),
        ("nvcr.io/nvidia/k8s/cuda-sample:vectoradd", images.VECTORADD),
        (CUDA_IMAGE, images.CUDA),
        ("nvidia/cuda:12.4.1-base-ubuntu22.04", images.CUDA),
        ("docker.io/nvidia/cuda:11.7.1-base-ubuntu20.04", images.CUDA),
    ],
)
def test_gpu_check_images_are_in_the_catalogue(image: str, kind: str) -> None:
    assert images.resolve(image) == kind
    assert images.IMAGE_SIZES[kind] > 0


@pytest.mark.parametrize(
    "image",
    [
        "nvcr.io/nvidia/k8s/cuda-sample:nbody",  # another sample: not emulated
        "nvcr.io/nvidia/cuda",  # no tag
        "ghcr.io/nvidia/cuda:12.4.1-base-ubuntu22.04",  # another registry
        "nvcr.io/nvidia/cudax:12.4.1",
    ],
)
def test_look_alike_images_still_fail_to_pull(image: str) -> None:
    with pytest.raises(images.ImagePullError, match="not found in the emulator's image catalogue"):
        images.resolve(image)


@pytest.mark.parametrize(
    ("image", "command", "args", "program"),
    [
        ("nvcr.io/nvidia/k8s/cuda-sample:vectoradd-cuda12.5.0", None, None, ["gpuconf.workload.vectoradd"]),
        # The sample binary takes no arguments, whatever the pod passes.
        ("nvcr.io/nvidia/k8s/cuda-sample:vectoradd-cuda12.5.0", None, ["-x"], ["gpuconf.workload.vectoradd"]),
        (CUDA_IMAGE, ["nvidia-smi", "-L"], None, ["gpuconf.workload.nvidia_smi", "-L"]),
        (
            CUDA_IMAGE,
            ["/usr/bin/nvidia-smi"],
            ["--list-gpus"],
            ["gpuconf.workload.nvidia_smi", "--list-gpus"],
        ),
        (CUDA_IMAGE, None, ["nvidia-smi", "-L"], ["gpuconf.workload.nvidia_smi", "-L"]),  # args replace CMD
        (
            OWN_IMAGE,
            ["python", "-m", "gpuconf.workload.vectoradd"],
            ["--elements", "9"],
            ["gpuconf.workload.vectoradd", "--elements", "9"],
        ),
        (
            OWN_IMAGE,
            ["python3", "-m", "gpuconf.workload.nvidia_smi", "-L"],
            None,
            ["gpuconf.workload.nvidia_smi", "-L"],
        ),
        (OWN_IMAGE, None, ["--max_steps", "20"], ["gpuconf.workload.mnist", "--max_steps", "20"]),
        # The article's image is not ours: its command cannot name our modules.
        (
            "mcr.microsoft.com/azuredocs/samples-tf-mnist-demo:gpu",
            ["python", "-m", "gpuconf.workload.vectoradd"],
            ["--max_steps", "20"],
            ["gpuconf.workload.mnist", "--max_steps", "20"],
        ),
    ],
)
def test_each_container_runs_the_program_its_image_and_command_name(
    image: str, command: list[str] | None, args: list[str] | None, program: list[str]
) -> None:
    assert argv_for(image, command, args) == [sys.executable, "-m", *program]


@pytest.mark.parametrize(
    ("command", "missing"),
    [
        (["nvidia-smi-typo", "-L"], 'exec: "nvidia-smi-typo": executable file not found in $PATH'),
        (["/opt/tool"], 'exec: "/opt/tool": stat /opt/tool: no such file or directory'),
    ],
)
def test_any_other_executable_in_a_cuda_image_is_containerds_start_error(
    command: list[str], missing: str
) -> None:
    argv = argv_for(CUDA_IMAGE, command)
    assert argv[-1] == START_ERROR + missing + ": unknown"
    assert "sys.exit(128)" in argv[2]


def test_a_cuda_image_without_command_runs_its_bash_which_exits_at_once() -> None:
    assert argv_for(CUDA_IMAGE) == [sys.executable, "-c", ""]


REAL = {"NVIDIA_VISIBLE_DEVICES": "GPU-a", "GPUCONF_GPU_EMULATED": "0"}
FAKE = {"NVIDIA_VISIBLE_DEVICES": "GPU-f", "GPUCONF_GPU_EMULATED": "1", "GPUCONF_GPU_PRODUCT": "Tesla K80"}


@pytest.mark.parametrize("kind", [images.WORKLOAD, images.VECTORADD, images.CUDA])
@pytest.mark.parametrize(
    ("env", "cuda", "nvidia"),
    [
        (REAL, "GPU-a", "GPU-a"),
        (FAKE, "", "GPU-f"),
        ({}, "", "void"),
        # Set by the pod (or inherited from a GPU host): not an allocation, so no GPU at all.
        ({"NVIDIA_VISIBLE_DEVICES": "all"}, "", "void"),
    ],
)
def test_every_workload_program_sees_only_the_gpus_it_was_allocated(
    kind: str, env: dict[str, str], cuda: str, nvidia: str
) -> None:
    ctx = images.LaunchContext({"image": "x", "command": ["nvidia-smi", "-L"]}, dict(env), {}, None, 0)
    program = images.build_program(kind, ctx)
    assert (program.env["CUDA_VISIBLE_DEVICES"], program.env["NVIDIA_VISIBLE_DEVICES"]) == (cuda, nvidia)
