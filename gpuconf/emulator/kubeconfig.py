"""The kubeconfig a client needs to reach the emulated API server (plain HTTP on loopback)."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

CONTEXT = "gpuconf-emulated"


def kubeconfig_document(url: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": {"server": url}}],
        # The server does no authentication; a token keeps clients that insist on credentials happy.
        "users": [{"name": CONTEXT, "user": {"token": "gpuconf-emulated"}}],
        "contexts": [
            {"name": CONTEXT, "context": {"cluster": CONTEXT, "user": CONTEXT, "namespace": "default"}}
        ],
        "current-context": CONTEXT,
        "preferences": {},
    }


def write_kubeconfig(path: Path, url: str) -> Path:
    """Write the kubeconfig with mode 0600 (kubectl warns about group/world-readable configs)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        yaml.safe_dump(kubeconfig_document(url), handle, sort_keys=False)
    os.chmod(path, 0o600)  # O_CREAT's mode does not apply to a file that already existed
    return path
