"""Option parsing: flags beat GPUCONF_* variables, bad values get one line naming the flag."""

from __future__ import annotations

import argparse

import pytest

from gpuconf.azure.settings import SettingsError, from_options, resolve
from gpuconf.backends.aks import AksBackend


def test_every_option_falls_back_to_its_environment_variable():
    env = {
        "AZURE_SUBSCRIPTION_ID": "sub-from-azure-env",
        "GPUCONF_LOCATION": "westeurope",
        "GPUCONF_VM_SIZE": "Standard_NC4as_T4_v3,Standard_NC24ads_A100_v4",
        "GPUCONF_AKS_CUSTOM_HEADERS": "A=1,B=2",
        "GPUCONF_GPU_DRIVER": "none",
        "GPUCONF_AKS_CLUSTER": "rg/name",
        "GPUCONF_KEEP_CLUSTER": "true",
        "GPUCONF_ARM_ENDPOINT": "https://management.usgovcloudapi.net/",
        "GPUCONF_ARM_TOKEN": "t",
        "GPUCONF_ARM_POLL_INTERVAL": "2.5",
    }
    s = resolve({}, env)
    assert s.subscription == "sub-from-azure-env"
    assert s.location == "westeurope"
    assert s.vm_sizes == ("Standard_NC4as_T4_v3", "Standard_NC24ads_A100_v4")
    assert s.custom_headers == {"A": "1", "B": "2"}
    assert (s.gpu_driver, s.existing_cluster, s.keep_cluster) == ("none", ("rg", "name"), True)
    assert s.arm_endpoint == "https://management.usgovcloudapi.net"
    assert s.arm_token == "t" and "'t'" not in repr(s)  # the token never shows in a repr
    assert s.poll_interval_s == 2.5


def test_a_flag_beats_its_environment_variable():
    env = {"GPUCONF_LOCATION": "westeurope", "GPUCONF_SUBSCRIPTION": "env"}
    s = resolve({"aks_location": "northeurope", "aks_subscription": "flag"}, env)
    assert (s.location, s.subscription) == ("northeurope", "flag")


def test_defaults_follow_todays_docs():
    s = resolve({}, {})
    assert s.vm_sizes == ("Standard_NC4as_T4_v3",)
    assert (s.doc_profile, s.gpu_driver, s.custom_headers) == ("current", "install", {})


def test_doc_profile_2020_is_the_article_verbatim():
    s = resolve({"aks_doc_profile": "2020"}, {})
    assert s.vm_sizes == ("Standard_NC6",)
    assert s.custom_headers == {"UseGPUDedicatedVHD": "true"}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"aks_arm_endpoint": "http://management.azure.com"}, "plain http is accepted only for loopback"),
        ({"aks_arm_endpoint": "ftp://x"}, "--arm-endpoint: expected an https:// URL"),
        ({"aks_custom_headers": "novalue"}, "--aks-custom-headers: expected k=v,k=v"),
        ({"aks_existing_cluster": "just-a-name"}, "--aks-cluster: expected RESOURCE_GROUP/CLUSTER_NAME"),
        ({"aks_gpu_driver": "cuda"}, "--gpu-driver: expected one of install, none"),
        ({"aks_doc_profile": "2019"}, "--doc-profile: expected one of current, 2020"),
        ({"aks_vm_size": ["NC6"]}, "--vm-size: 'NC6' is not an Azure VM size name"),
        ({"aks_gpu_count_per_node": "two"}, "--gpu-count-per-node: expected a positive number"),
        (
            {"aks_doc_profile": "2020", "aks_vm_size": ["Standard_NC4as_T4_v3"]},
            "fixes the VM size to Standard_NC6",
        ),
        ({"aks_cluster_name": "-bad-"}, "--cluster-name: '-bad-' is not a valid AKS name"),
    ],
)
def test_bad_values_get_one_line_naming_the_flag(values, message):
    with pytest.raises(SettingsError) as err:
        resolve(values, {})
    assert message in str(err.value) and "\n" not in str(err.value)


def test_loopback_http_endpoints_are_accepted():
    for url in ("http://127.0.0.1:8080", "http://[::1]:80", "http://localhost:1"):
        assert resolve({"aks_arm_endpoint": url}, {}).arm_endpoint == url


def test_gpu_count_contradicting_the_vm_size_table_is_refused_at_construction():
    options = argparse.Namespace(aks_vm_size=["Standard_NC4as_T4_v3"], aks_gpu_count_per_node="2")
    with pytest.raises(SettingsError, match="the VM-size table says Standard_NC4as_T4_v3 has 1 GPU"):
        AksBackend(options)


def test_backend_options_may_be_a_pytest_style_config_object():
    namespace = argparse.Namespace(aks_location="uksouth", aks_vm_size=[])
    config = argparse.Namespace(option=namespace)  # pytest.Config keeps parsed flags on .option
    assert from_options(config, {}).location == "uksouth"


def test_missing_subscription_is_unavailable_with_what_to_do(monkeypatch):
    from gpuconf.backends.base import BackendUnavailable

    monkeypatch.delenv("AZURE_SUBSCRIPTION_ID", raising=False)
    monkeypatch.delenv("GPUCONF_SUBSCRIPTION", raising=False)
    with pytest.raises(BackendUnavailable, match="pass --subscription or set AZURE_SUBSCRIPTION_ID"):
        AksBackend(argparse.Namespace()).provision()
