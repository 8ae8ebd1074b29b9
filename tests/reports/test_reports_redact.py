"""Redaction: no secret a cluster or Azure hands us survives into a report file."""

from __future__ import annotations

import json

import pytest

from gpuconf.reports.redact import MASK, redact

FAKE_JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2EifQ.c2lnbmF0dXJlLXNlY3JldA"
KUBECONFIG = f"""apiVersion: v1
users:
- name: clusterUser_rg_aks
  user:
    client-certificate-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUZIVENDQXdXZ0F3
    client-key-data: LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQpNSUlKS1FJQkFBS0NB
    token: 0123456789abcdef0123456789abcdef
- name: sa
  user:
    token: "{FAKE_JWT}"
"""


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Bearer abc.def-ghi", "abc.def-ghi"),
        ("authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        ('{"Authorization": "Bearer tok123456"}', "tok123456"),
        ("curl -H 'Authorization: Bearer s3cr3t-token' https://x", "s3cr3t-token"),
        ("header bearer QWxhZGRpbjpvcGVuIHNlc2FtZQ== sent", "QWxhZGRpbjpvcGVuIHNlc2FtZQ"),
        ("password: hunter2", "hunter2"),
        ('"password": "p@ss word"', "p@ss word"),
        ("--password=hunter2 --user=me", "hunter2"),
        ("AZURE_CLIENT_SECRET=abc~DEF.123", "abc~DEF.123"),
        ("client_secret: 'q8Q~secret'", "q8Q~secret"),
        (
            "https://acct.blob.core.windows.net/c/b?sv=2022-11-02&se=2026-12-01&sp=r&sig=AbC%2Bd%2Fef%3D",
            "AbC%2Bd%2Fef%3D",
        ),
        ("DefaultEndpointsProtocol=https;AccountName=a;AccountKey=Zm9vYmFyYmF6==;", "Zm9vYmFyYmF6"),
        (f"token {FAKE_JWT} in a log line", FAKE_JWT),
    ],
)
def test_secret_values_are_masked(text, secret):
    cleaned = redact(text)
    assert secret not in cleaned
    assert MASK in cleaned


def test_kubeconfig_credentials_are_masked_but_structure_kept():
    cleaned = redact(KUBECONFIG)
    for secret in ("LS0tLS1CRUdJTiBDRVJU", "LS0tLS1CRUdJTiBSU0Eg", "0123456789abcdef", FAKE_JWT):
        assert secret not in cleaned
    assert "name: clusterUser_rg_aks" in cleaned and "client-key-data: [REDACTED]" in cleaned
    assert f'token: "{MASK}"' in cleaned


def test_pem_blocks_are_removed_whole():
    pem = (
        "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA1\nabcdef\n"
        "-----END RSA PRIVATE KEY-----\nafter"
    )
    cleaned = redact(pem)
    assert "MIIEpAIBAAKCAQEA1" not in cleaned and "abcdef" not in cleaned
    assert cleaned.endswith("-----END RSA PRIVATE KEY-----\nafter")


def test_ordinary_log_text_is_untouched():
    text = (
        "Accuracy at step 490: 0.9494\nname: Tesla K80 major: 3 minor: 7\n"
        "TokenExpirationSeconds: 3607\nSecretName: default-token\nnvidia.com/gpu: 1\n"
        "volumes:\n- name: creds\n  secret:\n    secretName: registry-creds\n"
    )
    assert redact(text) == text


def test_redaction_is_idempotent_and_keeps_json_valid():
    doc = json.dumps({"token": "abc123", "Authorization": "Bearer zzz", "evidence": ["password=x"]})
    once = redact(doc)
    assert redact(once) == once
    parsed = json.loads(once)
    assert (
        parsed["token"] == MASK
        and parsed["Authorization"] == MASK
        and parsed["evidence"] == [f"password={MASK}"]
    )
