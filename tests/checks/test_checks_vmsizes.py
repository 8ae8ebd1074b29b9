"""VM-size table lookups and GPU-name matching."""

from __future__ import annotations

from datetime import date

import pytest

from gpuconf.checks.vmsizes import VM_SIZES, UnknownVmSize, gpu_name_matches, lookup


@pytest.mark.parametrize("spelling", ["Standard_NC6", "standard_nc6", "NC6", "nc6", "  STANDARD_NC6 "])
def test_lookup_is_case_insensitive_with_or_without_prefix(spelling):
    assert lookup(spelling).name == "Standard_NC6"


def test_article_size_is_a_retired_single_k80():
    nc6 = lookup("Standard_NC6")
    assert (nc6.gpu_model, nc6.gpu_count, nc6.compute_capability, nc6.vcpus) == ("Tesla K80", 1, "3.7", 6)
    assert nc6.retired_on == date(2023, 8, 31) and nc6.retired(date(2026, 1, 1))
    assert not nc6.retired(date(2020, 8, 21))  # the day the article was written
    assert "31 August 2023" in (nc6.retirement_source or "")


@pytest.mark.parametrize(
    ("size", "model", "count", "cc"),
    [
        ("Standard_NC4as_T4_v3", "Tesla T4", 1, "7.5"),
        ("Standard_NC64as_T4_v3", "Tesla T4", 4, "7.5"),
        ("Standard_NC24ads_A100_v4", "NVIDIA A100 80GB PCIe", 1, "8.0"),
        ("Standard_NC96ads_A100_v4", "NVIDIA A100 80GB PCIe", 4, "8.0"),
        ("Standard_NC40ads_H100_v5", "NVIDIA H100 NVL", 1, "9.0"),
        ("Standard_ND96asr_v4", "NVIDIA A100-SXM4-40GB", 8, "8.0"),
        ("Standard_NC24s_v3", "Tesla V100-PCIE-16GB", 4, "7.0"),
    ],
)
def test_gpu_facts_of_current_and_recent_sizes(size, model, count, cc):
    vm = lookup(size)
    assert (vm.gpu_model, vm.gpu_count, vm.compute_capability) == (model, count, cc)


def test_current_sizes_are_not_retired_and_v100_retired_in_2025():
    assert lookup("NC4as_T4_v3").retired_on is None
    assert lookup("NC6s_v3").retired_on == date(2025, 9, 30)


def test_cpu_sizes_have_no_gpu():
    for name in ("Standard_D4s_v3", "Standard_DS2_v2"):
        vm = lookup(name)
        assert not vm.has_gpu and vm.gpu_model is None and vm.compute_capability is None


def test_every_gpu_size_has_model_and_capability():
    for vm in VM_SIZES.values():
        assert (vm.gpu_model is None) == (vm.gpu_count == 0) == (vm.compute_capability is None), vm.name
        assert (vm.retired_on is None) == (vm.retirement_source is None), vm.name


def test_unknown_size_is_a_one_line_error_listing_known_sizes():
    with pytest.raises(UnknownVmSize) as info:
        lookup("Standard_NC7")
    message = str(info.value)
    assert message.startswith("unknown VM size 'Standard_NC7'; known sizes: Standard_NC6,")
    assert "\n" not in message


@pytest.mark.parametrize(
    ("expected", "reported"),
    [
        ("Tesla K80", "Tesla K80"),
        ("Tesla T4", "NVIDIA Tesla T4"),
        ("NVIDIA A100-SXM4-40GB", "A100-SXM4-40GB"),  # TF 2.1-2.4 omit the brand
        ("NVIDIA A100 80GB PCIe", "NVIDIA A100-PCIE-40GB"),  # same part, other memory size
        ("NVIDIA A100-SXM4-40GB", "NVIDIA A100-SXM4-40GB MIG 1g.5gb"),
        ("Tesla K80", "Tesla K80 (emulated)"),
        ("NVIDIA H100 NVL", "nvidia h100 nvl"),
    ],
)
def test_gpu_names_that_match(expected, reported):
    assert gpu_name_matches(expected, reported)


@pytest.mark.parametrize(
    ("expected", "reported"),
    [
        ("Tesla K80", "Tesla T4"),
        ("NVIDIA A100 80GB PCIe", "NVIDIA A100-SXM4-40GB"),
        ("NVIDIA H100 NVL", "NVIDIA H100 80GB HBM3"),
        ("Tesla V100-PCIE-16GB", "Tesla V100-SXM2-16GB"),
        ("NVIDIA H200", "NVIDIA H200 NVL"),
        ("Tesla K80", ""),
    ],
)
def test_gpu_names_that_do_not_match(expected, reported):
    assert not gpu_name_matches(expected, reported)
