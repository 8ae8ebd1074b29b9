"""`python -m gpuconf.workload.mnist`: the article's MNIST demo, offline.

Trains a softmax classifier for real on the handwritten digits shipped inside scikit-learn and logs
like the article's sample: TensorFlow 1.x GPU discovery lines (only when a GPU was really given to
the container), `Accuracy at step N: x` every 10 steps and `Adding run metadata for 99/199/...`.

    --max_steps N (or --max-steps)   steps to run (default 1000, like the TensorFlow sample)
    --seed S                          data split, batches and initial weights (default 0)
    --device auto|cpu|cuda            auto: a real CUDA GPU through PyTorch if torch is installed,
                                      else the emulated GPU the fake device plugin allocated, else CPU

Fault hooks for the emulated cluster, through GPUCONF_FAULT:
    cpu-fallback    silently train on CPU: no discovery lines even when a GPU was given
    wrong-gpu       the discovery lines name a different GPU than the one allocated
    flat-accuracy   the model never learns: accuracy stays at its step-0 value
    stop-early      stop after max_steps/2 steps and exit 0
    exit-nonzero    announce the GPU, then crash with a CUDA error and exit 1
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping

from gpuconf.workload import gpuinfo
from gpuconf.workload.device import choose_device
from gpuconf.workload.errors import WorkloadError, run_program

FAULTS = ("cpu-fallback", "wrong-gpu", "flat-accuracy", "stop-early", "exit-nonzero")
EVAL_EVERY = 10
METADATA_EVERY = 100
CUDA_CRASH = (
    "tensorflow.python.framework.errors_impl.InternalError: CUDA runtime implicit initialization on GPU:0 "
    "failed. Status: CUDA_ERROR_ECC_UNCORRECTABLE: uncorrectable ECC error encountered"
)

# The matrices are tiny (batch 100 x 64 pixels): BLAS worker threads only burn the shared cores the
# offline suite runs on (measured: half the CPU time with one thread). Applied before numpy loads.
SINGLE_THREADED_BLAS = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(
        prog="python -m gpuconf.workload.mnist", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--max_steps", "--max-steps", dest="max_steps", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    args, unknown = parser.parse_known_args(argv)
    if args.max_steps < 1:
        parser.error(f"--max_steps must be at least 1, not {args.max_steps}")
    return args, unknown


def unused_gpu_note(kind: str, env: Mapping[str, str]) -> str | None:
    """Say so when a real GPU was allocated but this run cannot use it (no PyTorch with CUDA), so
    training on CPU is visible instead of silent."""
    visible = env.get("NVIDIA_VISIBLE_DEVICES", "").strip()
    if kind != "cpu" or visible.lower() in gpuinfo.NO_DEVICES or env.get("GPUCONF_GPU_EMULATED") == "1":
        return None
    return f"GPU {visible} was allocated but PyTorch with CUDA is not available here; training on CPU"


def run(argv: list[str], env: Mapping[str, str], out: Callable[[str], None]) -> int:
    args, unknown = parse_args(argv)
    fault = env.get("GPUCONF_FAULT", "").strip()
    if fault and fault not in FAULTS:
        raise WorkloadError(f"GPUCONF_FAULT must be one of {', '.join(FAULTS)}, not {fault!r}")
    if unknown:
        out(f"Ignoring flags this offline workload does not use: {' '.join(unknown)}")
    kind, gpus, torch = choose_device(args.device, env)
    if fault == "cpu-fallback":
        kind, gpus, torch = "cpu", [], None
    if fault == "wrong-gpu":
        gpus = [gpuinfo.impostor(g) for g in gpus]
    for gpu in gpus:
        for line in gpuinfo.discovery_lines(gpu):
            out(line)
    if fault != "cpu-fallback" and args.device != "cpu" and (note := unused_gpu_note(kind, env)):
        out(note)
    if fault == "exit-nonzero":
        raise WorkloadError(CUDA_CRASH)

    # numpy is imported here, not at module level, so main() can pin BLAS threads first.
    from gpuconf.workload import digits
    from gpuconf.workload.softmax import NumpyTrainer, TorchTrainer, Trainer

    path = digits.digits_path()
    x, y = digits.load(path)
    data = digits.split(x, y, args.seed)
    out(f"Loaded {len(y)} handwritten digits (8x8) from {path}; training on {kind}")
    learn = fault != "flat-accuracy"
    trainer: Trainer = (
        TorchTrainer(torch, data, args.seed, "cuda", learn)
        if torch is not None
        else NumpyTrainer(data, args.seed, learn)
    )
    steps = args.max_steps // 2 if fault == "stop-early" else args.max_steps
    for step in range(steps):
        if step % EVAL_EVERY == 0:
            out(f"Accuracy at step {step}: {round(trainer.accuracy(), 4)}")
            continue
        trainer.train_step()
        if step % METADATA_EVERY == METADATA_EVERY - 1:
            out(f"Adding run metadata for {step}")
    return 0


def main(argv: list[str] | None = None) -> int:
    for name, value in SINGLE_THREADED_BLAS.items():
        os.environ.setdefault(name, value)
    return run_program(run, argv)


if __name__ == "__main__":
    sys.exit(main())
