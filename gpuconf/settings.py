"""The suite's settings: every option, its environment fallback, and validation with one-line errors.

The pytest plugin (fixtures/options.py) registers these as command-line options; this module turns
raw values (flag, else GPUCONF_* variable, else default) into a checked `SuiteSettings`, so a bad
value fails before any cluster is touched, with a message naming the flag.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gpuconf.checks.vmsizes import UnknownVmSize, lookup

BACKENDS = ("emulated", "kind", "kubeconfig", "aks")
INSTALL_PATHS = ("daemonset", "node-image")
DRIFT_MODES = ("warn", "fail")
GPU_MODES = ("fake", "real")
ARTICLE_VM_SIZE = "Standard_NC6"
MAX_GPUS_PER_NODE = 16  # no Azure size has more than 8; 16 leaves room for on-prem nodes


class SettingsError(ValueError):
    """A bad option value; the message is one line naming the flag."""


@dataclass(frozen=True)
class SuiteSettings:
    cluster: str = "emulated"
    kubeconfig: Path | None = None
    vm_sizes: tuple[str, ...] = ()  # empty: the backend's default (the article's NC6 when emulated)
    gpu_count: int | None = None  # GPUs each GPU node must advertise; None: from its VM size
    nodes: int = 1  # GPU nodes per VM size (backends that create nodes)
    install_path: str = "daemonset"
    timeout_factor: float = 1.0
    keep_cluster: bool = False
    keep_namespace_on_failure: bool = False
    drift: str = "warn"
    reports_dir: Path = Path("reports")
    max_steps: int = 500
    gpu: str = "fake"
    emulator_faults: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict)


def _choice(flag: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise SettingsError(f"{flag}: {value!r} is not one of {', '.join(choices)}")
    return value


def _number(flag: str, value: str, convert: Callable[[str], float], low: float, high: float) -> float:
    try:
        number = convert(value)
    except ValueError:
        raise SettingsError(f"{flag}: {value!r} is not a number") from None
    if not low <= number <= high:
        raise SettingsError(f"{flag}: {value} is outside {low:g}..{high:g}")
    return number


def _as_list(value: object) -> list[object]:
    return list(value) if isinstance(value, list | tuple) else []


def build(raw: dict[str, object]) -> SuiteSettings:
    """Check raw option values (strings, lists, bools or None) and build SuiteSettings."""
    cluster = _choice("--cluster", str(raw.get("cluster") or "emulated"), BACKENDS)
    sizes: list[str] = []
    for size in _as_list(raw.get("vm_sizes")):
        for part in str(size).split(","):
            if not part.strip():
                continue
            try:
                sizes.append(lookup(part.strip()).name)
            except UnknownVmSize as error:
                raise SettingsError(f"--vm-size: {error}") from None
    gpu_count = None
    if raw.get("gpu_count") not in (None, ""):
        gpu_count = int(_number("--gpu-count", str(raw["gpu_count"]), int, 1, MAX_GPUS_PER_NODE))
        for size in sizes:
            table = lookup(size)
            if table.gpu_count and gpu_count > table.gpu_count:
                raise SettingsError(
                    f"--gpu-count: {size} has {table.gpu_count} GPU(s), it cannot advertise {gpu_count}"
                )
    kubeconfig = Path(str(raw["kubeconfig"])).expanduser() if raw.get("kubeconfig") else None
    if cluster == "kubeconfig" and kubeconfig is None:
        raise SettingsError(
            "--cluster kubeconfig needs --kubeconfig PATH (or GPUCONF_KUBECONFIG / KUBECONFIG)"
        )
    faults = tuple(str(f) for f in _as_list(raw.get("emulator_faults")))
    if faults and cluster != "emulated":
        raise SettingsError("--emulator-fault works only with --cluster emulated")
    if faults:
        from gpuconf.emulator.faults import lookup as lookup_faults  # only when a fault is asked for

        try:
            lookup_faults(faults)
        except ValueError as error:
            raise SettingsError(f"--emulator-fault: {error}") from None
    return SuiteSettings(
        cluster=cluster,
        kubeconfig=kubeconfig,
        vm_sizes=tuple(sizes),
        gpu_count=gpu_count,
        nodes=int(_number("--nodes", str(raw.get("nodes") or 1), int, 1, 1000)),
        install_path=_choice("--install-path", str(raw.get("install_path") or "daemonset"), INSTALL_PATHS),
        timeout_factor=_number("--timeout-factor", str(raw.get("timeout_factor") or 1), float, 0.01, 100),
        keep_cluster=bool(raw.get("keep_cluster")),
        keep_namespace_on_failure=bool(raw.get("keep_namespace_on_failure")),
        drift=_choice("--drift", str(raw.get("drift") or "warn"), DRIFT_MODES),
        reports_dir=Path(str(raw.get("reports_dir") or "reports")),
        max_steps=int(_number("--max-steps", str(raw.get("max_steps") or 500), int, 20, 100_000)),
        gpu=_choice("--gpu", str(raw.get("gpu") or "fake"), GPU_MODES),
        emulator_faults=faults,
    )
