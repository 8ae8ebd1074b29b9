"""assess_training_log: discovery + expected GPU + failures + rising accuracy, as evidence and problems."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpuconf.checks.workload import assess_training_log, assess_workload_log

ARTICLE_LOG = (Path(__file__).parent / "data" / "article_tf1_sample.log").read_text()


def test_article_log_passes_for_the_article_vm_size_gpu():
    result = assess_training_log(ARTICLE_LOG, expected_gpu_model="Tesla K80", max_steps=500)
    assert result.passed, result.problems
    assert result.evidence == [
        "GPU 0: Tesla K80, compute capability 3.7 (log line 2)",
        "accuracy rose from 0.11 at step 0 to 0.95 at step 490 over 50 points",
    ]


def test_wrong_gpu_model_is_a_problem():
    result = assess_training_log(ARTICLE_LOG, expected_gpu_model="Tesla T4", max_steps=500)
    assert result.problems == ["GPU 0 is 'Tesla K80', expected 'Tesla T4'"]


def test_discovery_then_cublas_crash_does_not_pass():
    crashed = ARTICLE_LOG.split("Accuracy at step 0")[0] + (
        "E tensorflow/stream_executor/cuda/cuda_blas.cc:366] failed to create cublas handle: "
        "CUBLAS_STATUS_NOT_INITIALIZED\n"
    )
    result = assess_training_log(crashed, expected_gpu_model="Tesla K80", max_steps=500)
    assert not result.passed
    assert result.problems[0].startswith("known failure cublas-failure (line ")
    assert result.problems[1].startswith("no accuracy points found")


def test_cpu_only_run_lacks_discovery():
    cpu_only = "\n".join(line for line in ARTICLE_LOG.splitlines() if "device" not in line.lower())
    result = assess_training_log(cpu_only, expected_gpu_model=None, max_steps=500)
    assert result.problems == ["no GPU discovery line in the log (the workload did not see a GPU)"]


# The other two workloads' rules (gpuconf.checks.workload.assess_workload_log) ----------------------
VECTORADD_PASSED = """[Vector addition of 50000 elements]
Copy input data from the host memory to the CUDA device
CUDA kernel launch with 196 blocks of 256 threads
Copy output data from the CUDA device to the host memory
Test PASSED
Done
"""
SMI_ONE_T4 = "GPU 0: Tesla T4 (UUID: GPU-0650a168-9b4e-4f6a-a3c1-6a9d7e51c2aa)\n"


def test_vectoradd_passes_only_with_passed_and_done():
    assert assess_workload_log("vectoradd", VECTORADD_PASSED, expected_gpu_model=None).evidence == [
        "vector addition of 50000 elements: Test PASSED, Done"
    ]
    unfinished = assess_workload_log(
        "vectoradd", VECTORADD_PASSED.replace("Done\n", ""), expected_gpu_model=None
    )
    assert unfinished.problems == ["`Test PASSED` but no final `Done` line: the sample did not finish"]
    never_started = assess_workload_log("vectoradd", "", expected_gpu_model=None)
    assert not never_started.passed
    assert never_started.problems[0].startswith("no `[Vector addition of N elements]` header")


def test_vectoradd_driver_too_old_is_a_known_failure_not_a_pass():
    log = (
        "[Vector addition of 50000 elements]\nFailed to allocate device vector A (error code CUDA driver "
        "version is insufficient for CUDA runtime version)!\n"
    )
    result = assess_workload_log("vectoradd", log, expected_gpu_model=None)
    assert not result.passed
    assert any(p.startswith("known failure") for p in result.problems), result.problems


def test_device_listing_must_list_exactly_the_given_gpus_of_the_expected_model():
    ok = assess_workload_log("nvidia-smi", SMI_ONE_T4, expected_gpu_model="Tesla T4", gpus=1)
    assert ok.passed, ok.problems
    assert ok.evidence == ["GPU 0: Tesla T4, GPU-0650a168-9b4e-4f6a-a3c1-6a9d7e51c2aa (log line 1)"]
    wrong = assess_workload_log("nvidia-smi", SMI_ONE_T4, expected_gpu_model="Tesla K80", gpus=1)
    assert wrong.problems == ["GPU 0 is 'Tesla T4', expected 'Tesla K80'"]
    two = SMI_ONE_T4 + "GPU 1: Tesla T4 (UUID: GPU-0650a168-9b4e-4f6a-a3c1-6a9d7e51c2ab)\n"
    leaked = assess_workload_log("nvidia-smi", two, expected_gpu_model="Tesla T4", gpus=1)
    assert leaked.problems == ["nvidia-smi -L lists 2 GPU(s), but the pod was given 1"]
    none = assess_workload_log(
        "nvidia-smi",
        "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.",
        expected_gpu_model="Tesla T4",
        gpus=1,
    )
    assert none.problems[0] == "nvidia-smi -L lists 0 GPU(s), but the pod was given 1"


def test_an_unknown_parser_has_no_rule():
    with pytest.raises(ValueError, match="no assessment rule for log parser 'bogus'"):
        assess_workload_log("bogus", "", expected_gpu_model=None)
