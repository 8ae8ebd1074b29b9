"""VM-size profiles: the article's NC6 numbers exactly, sane numbers for the rest, clear errors."""

from __future__ import annotations

import pytest

from gpuconf.emulator import profiles
from gpuconf.emulator.controllers.resources import parse_quantity


def test_standard_nc6_matches_the_articles_describe_output() -> None:
    size = profiles.vm_size("Standard_NC6")
    cap, alloc = profiles.capacity(size), profiles.allocatable(size)
    assert cap["cpu"] == "6" and alloc["cpu"] == "5916m"
    assert cap["memory"] == "57713784Ki" and alloc["memory"] == "51702904Ki"
    assert cap["pods"] == alloc["pods"] == "110"
    assert cap["ephemeral-storage"] == "101584140Ki" and alloc["ephemeral-storage"] == "93619943269"
    assert cap["attachable-volumes-azure-disk"] == "24"
    assert "nvidia.com/gpu" not in cap, "no GPU is advertised before a device plugin registers"
    assert (size.gpu.product, size.gpu_count) == ("Tesla K80", 1)


@pytest.mark.parametrize(
    ("name", "product", "count"),
    [
        ("Standard_NC12", "Tesla K80", 2),
        ("Standard_NC24", "Tesla K80", 4),
        ("Standard_NC6s_v3", "Tesla V100-PCIE-16GB", 1),
        ("Standard_NC4as_T4_v3", "Tesla T4", 1),
        ("Standard_NC64as_T4_v3", "Tesla T4", 4),
        ("Standard_NC24ads_A100_v4", "NVIDIA A100 80GB PCIe", 1),
        ("Standard_NC40ads_H100_v5", "NVIDIA H100 NVL", 1),
        ("Standard_ND96asr_v4", "NVIDIA A100-SXM4-40GB", 8),
    ],
)
def test_gpu_sizes_have_their_model_and_count(name: str, product: str, count: int) -> None:
    size = profiles.vm_size(name)
    assert (size.gpu.product, size.gpu_count) == (product, count)


@pytest.mark.parametrize("name", sorted(profiles.VM_SIZES))
def test_allocatable_is_below_capacity_for_every_size(name: str) -> None:
    size = profiles.vm_size(name)
    cap, alloc = profiles.capacity(size), profiles.allocatable(size)
    for resource in ("cpu", "memory"):
        assert 0 < parse_quantity(alloc[resource]) < parse_quantity(cap[resource]), resource


def test_cpu_only_system_size_has_no_gpu() -> None:
    assert profiles.vm_size("Standard_D4s_v3").gpu is None


def test_unknown_size_is_one_clear_line() -> None:
    with pytest.raises(ValueError, match=r"unknown VM size 'Standard_NC7'; known sizes: .*Standard_NC6"):
        profiles.vm_size("Standard_NC7")


def test_pool_spec_parses_and_names_nodes_like_aks() -> None:
    pool = profiles.parse_pool("gpupool:Standard_NC4as_T4_v3:2")
    assert pool == profiles.PoolSpec("gpupool", "Standard_NC4as_T4_v3", 2)
    assert profiles.node_names(pool) == ["aks-gpupool-28993262-0", "aks-gpupool-28993262-1"]


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("gpupool:Standard_NC6", "expected NAME:VM_SIZE:COUNT"),
        ("GPU:Standard_NC6:1", "lowercase"),
        ("gpupool:Standard_NC6:0", "positive integer"),
        ("gpupool:Standard_XX:1", "unknown VM size"),
    ],
)
def test_bad_pool_specs_are_rejected_with_the_reason(text: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        profiles.parse_pool(text)
