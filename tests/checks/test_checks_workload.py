"""assess_training_log: discovery + expected GPU + failures + rising accuracy, as evidence and problems."""

from __future__ import annotations

from pathlib import Path

from gpuconf.checks.workload import assess_training_log

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
