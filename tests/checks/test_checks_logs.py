"""Workload log parsers: every format of REFERENCE §6 (sample lines verbatim), the article's sample
log, and the known failure signatures."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpuconf.checks.logs import (
    DeviceListing,
    TrainingLog,
    VectorAddLog,
    parse_training_log,
    parse_workload_log,
)

DATA = Path(__file__).parent / "data"
ARTICLE_LOG = (DATA / "article_tf1_sample.log").read_text()

TF1_ONE_LINE = (
    "... gpu_device.cc:1030] Found device 0 with properties: name: Tesla K80 major: 3 minor: 7 "
    "memoryClockRate(GHz): 0.8235 "
    "pciBusID: 2fd7:00:00.0 totalMemory: 11.17GiB freeMemory: 11.10GiB"
)
TF1_CREATING = (
    "Creating TensorFlow device (/device:GPU:0) -> (device: 0, name: Tesla K80, pci bus id: 2fd7:00:00.0, "
    "compute capability: 3.7)"
)
TF21 = (
    "2021-03-01 10:00:00.000000: I tensorflow/core/common_runtime/gpu/gpu_device.cc:1716] "
    "Found device 0 with properties:\npciBusID: 0000:01:00.0 name: A100-SXM4-40GB computeCapability: 8.0\n"
    "coreClock: 1.41GHz coreCount: 108 deviceMemorySize: 39.59GiB deviceMemoryBandwidth: 1.41TiB/s\n"
)
TF2 = (
    "Created device /job:localhost/replica:0/task:0/device:GPU:0 with 38283 MB memory:  -> device: 0, name: "
    "NVIDIA A100-PCIE-40GB, pci bus id: 0000:3b:00.0, compute capability: 8.0"
)
TF2_ABSL_MIG_NO_SPACE = (
    "I0000 00:00:1771084495.061905 58794 gpu_device.cc:2020] Created device "
    "/job:localhost/replica:0/task:0/device:GPU:0 with 4352 MB memory:  -> device: 0, name: NVIDIA "
    "A100-SXM4-40GB MIG 1g.5gb, pci bus id: 0000:3b:00.0,compute capability: 8.0"
)
NVIDIA_SMI = "GPU 0: Tesla T4 (UUID: GPU-0650a168-...)"
PYTORCH_OK = "Using CUDA device 0: NVIDIA H200 (compute capability 9.0)"
PYTORCH_BAD_CAPABILITY = (
    "UserWarning: NVIDIA H100 80GB HBM3 with CUDA capability sm_90 is not compatible with the current "
    "PyTorch installation."
)
VECTORADD_PASS = """[Vector addition of 50000 elements]
Copy input data from the host memory to the CUDA device
CUDA kernel launch with 196 blocks of 256 threads
Copy output data from the CUDA device to the host memory
Test PASSED
Done
"""
VECTORADD_DRIVER = """[Vector addition of 50000 elements]
Failed to allocate device vector A (error code CUDA driver version is insufficient for CUDA runtime version)!
"""


def test_article_sample_log_parses_to_k80_discovery_and_fifty_accuracy_points():
    log = parse_training_log(ARTICLE_LOG)
    assert log.parser == "tf1"
    [gpu] = log.discoveries
    assert (gpu.index, gpu.name, gpu.compute_capability) == (0, "Tesla K80", "3.7")
    assert (gpu.pci_bus_id, gpu.memory, gpu.emulated) == ("2fd7:00:00.0", "11.17GiB", False)
    assert gpu.line_number == 2 and gpu.raw_line in ARTICLE_LOG
    assert len(log.accuracy) == 50
    assert log.accuracy[0] == (0, 0.1081) and log.accuracy[-1] == (490, 0.9494)
    assert log.run_metadata_steps == [99, 199, 299, 399, 499]
    assert len(log.downloads) == 4 and log.failures == [] and log.errors == []


def test_tf1_single_line_form_from_reference():
    [gpu] = parse_workload_log(TF1_ONE_LINE, "tf1").discoveries
    assert (gpu.name, gpu.compute_capability, gpu.pci_bus_id, gpu.memory) == (
        "Tesla K80",
        "3.7",
        "2fd7:00:00.0",
        "11.17GiB",
    )


def test_tf1_creating_line_alone_gives_capability_and_bus_id():
    [gpu] = parse_workload_log(TF1_CREATING, "tf1").discoveries
    assert (gpu.name, gpu.compute_capability, gpu.pci_bus_id, gpu.source_format) == (
        "Tesla K80",
        "3.7",
        "2fd7:00:00.0",
        "tf1",
    )


def test_tf21_two_line_form():
    log = parse_workload_log(TF21, "tf2")
    [gpu] = log.discoveries
    assert (gpu.name, gpu.compute_capability, gpu.pci_bus_id) == ("A100-SXM4-40GB", "8.0", "0000:01:00.0")
    assert gpu.memory == "39.59GiB" and gpu.source_format == "tf2.1"


@pytest.mark.parametrize(
    ("line", "name", "memory"),
    [
        (TF2, "NVIDIA A100-PCIE-40GB", "38283 MB"),
        (TF2_ABSL_MIG_NO_SPACE, "NVIDIA A100-SXM4-40GB MIG 1g.5gb", "4352 MB"),
    ],
    ids=["plain", "absl-prefix-mig-no-space"],
)
def test_tf2_created_device_variants(line, name, memory):
    log = parse_workload_log(line)
    assert log.parser == "tf2"
    [gpu] = log.discoveries
    assert (gpu.name, gpu.compute_capability, gpu.pci_bus_id, gpu.memory) == (
        name,
        "8.0",
        "0000:3b:00.0",
        memory,
    )


def test_pytorch_discovery_line():
    log = parse_workload_log(PYTORCH_OK + "\nAccuracy at step 0: 0.1\n")
    assert isinstance(log, TrainingLog) and log.parser == "pytorch"
    [gpu] = log.discoveries
    assert (gpu.name, gpu.compute_capability) == ("NVIDIA H200", "9.0")
    assert log.accuracy == [(0, 0.1)]


def test_pytorch_incompatible_capability_is_a_named_failure():
    log = parse_workload_log(PYTORCH_BAD_CAPABILITY)
    assert log.failure_names == ["incompatible-capability"]
    assert "sm_90" in log.errors[0] and "(line 1)" in log.errors[0]


def test_nvidia_smi_listing():
    text = NVIDIA_SMI + "\nGPU 1: Tesla T4 (UUID: GPU-1111)\n"
    log = parse_workload_log(text)
    assert isinstance(log, DeviceListing)
    assert [(d.index, d.name, d.uuid) for d in log.discoveries] == [
        (0, "Tesla T4", "GPU-0650a168-..."),
        (1, "Tesla T4", "GPU-1111"),
    ]


def test_vectoradd_pass():
    log = parse_workload_log(VECTORADD_PASS)
    assert isinstance(log, VectorAddLog)
    assert (log.elements, log.passed, log.done, log.failures) == (50000, True, True, [])


def test_vectoradd_driver_failure_is_named_and_not_passed():
    log = parse_workload_log(VECTORADD_DRIVER)
    assert isinstance(log, VectorAddLog) and not log.passed
    assert log.failure_names == ["cuda-driver-insufficient"]


def test_vectoradd_missing_passed_line_is_not_a_pass():
    log = parse_workload_log("[Vector addition of 50000 elements]\nDone\n", "vectoradd")
    assert isinstance(log, VectorAddLog) and not log.passed and log.done


@pytest.mark.parametrize(
    ("line", "name"),
    [
        ("E tensorflow/stream_executor/cuda/cuda_blas.cc:366] failed to create cublas handle: "
         "CUBLAS_STATUS_NOT_INITIALIZED", "cublas-failure"),
        ("InternalError: Blas GEMM launch failed : a.shape=(100, 784)", "cublas-failure"),
        ("E tensorflow/stream_executor/cuda/cuda_dnn.cc:329] Could not create cudnn handle: "
         "CUDNN_STATUS_INTERNAL_ERROR", "cudnn-failure"),
        ("ResourceExhaustedError: OOM when allocating tensor with shape[10000,784]", "out-of-memory"),
        ("torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB", "out-of-memory"),
        ("E tensorflow/stream_executor/cuda/cuda_driver.cc:406] failed call to cuInit: CUDA_ERROR_NO_DEVICE",
         "no-cuda-device"),
        ("RuntimeError: cuda runtime error (100) : no CUDA-capable device is detected", "no-cuda-device"),
        ("urllib.error.URLError: <urlopen error [Errno -3] Temporary failure in name resolution>",
         "dataset-download-failed"),
        ("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.",
         "driver-not-loaded"),
    ],
)  # fmt: skip
def test_known_failure_signatures_are_named(line, name):
    log = parse_workload_log("Accuracy at step 0: 0.1\n" + line + "\n")
    assert log.failure_names == [name]
    assert log.failures[0].line_number == 2


def test_discovery_then_cublas_failure_reports_both():
    # Old CUDA image on Ampere: the discovery line prints, then training dies in cuBLAS.
    text = (
        TF1_CREATING + "\nE cuda_blas.cc:366] failed to create cublas handle: CUBLAS_STATUS_NOT_INITIALIZED\n"
    )
    log = parse_training_log(text)
    assert [d.name for d in log.discoveries] == ["Tesla K80"]
    assert log.failure_names == ["cublas-failure"] and log.accuracy == []


def test_emulated_marker_is_stripped_from_name_and_flagged():
    line = TF1_CREATING.replace("name: Tesla K80,", "name: Tesla K80 (emulated),")
    [gpu] = parse_workload_log(line).discoveries
    assert gpu.name == "Tesla K80" and gpu.emulated


def test_found_and_creating_lines_merge_into_one_device_per_index():
    two_gpus = "\n".join(
        [TF1_ONE_LINE, TF1_CREATING, TF1_CREATING.replace("GPU:0", "GPU:1").replace("device: 0", "device: 1")]
    )
    log = parse_training_log(two_gpus)
    assert [d.index for d in log.discoveries] == [0, 1]
    assert log.discoveries[0].memory == "11.17GiB" and log.discoveries[0].line_number == 1


def test_explicit_parser_only_accepts_its_own_formats():
    assert parse_workload_log(TF2, "tf1").discoveries == []
    assert parse_workload_log(TF1_CREATING, "pytorch").discoveries == []


def test_unknown_parser_is_a_one_line_error():
    with pytest.raises(ValueError, match=r"unknown log parser 'tf3'; expected one of: auto, tf1"):
        parse_workload_log("", "tf3")


def test_parse_training_log_rejects_a_device_listing():
    with pytest.raises(ValueError, match="not a training log"):
        parse_training_log(NVIDIA_SMI)


def test_empty_log_has_no_discoveries_and_no_accuracy():
    log = parse_training_log("")
    assert (log.discoveries, log.accuracy, log.failures) == ([], [], [])
