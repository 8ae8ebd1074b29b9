"""Checking a kubeconfig file before any client reads it: one line for a missing or malformed file.

Kept apart from gpuconf.kube (the official client) so that option checking at pytest start-up does
not import the client: the embedded cluster's head start begins before that import (fixtures/cluster.py).
"""

from __future__ import annotations

from pathlib import Path

import yaml


class KubeconfigError(ValueError):
    """The kubeconfig cannot be used (missing, malformed, no current context): a usage error."""


def validate_kubeconfig(path: Path) -> None:
    """Fail with one line if `path` is not a usable kubeconfig (before any client touches it)."""
    if not path.is_file():
        raise KubeconfigError(f"kubeconfig {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise KubeconfigError(f"kubeconfig {path} is not valid YAML: {first}") from None
    if not isinstance(data, dict) or not data.get("clusters") or not data.get("contexts"):
        raise KubeconfigError(f"kubeconfig {path} has no clusters or contexts")
    if not data.get("current-context"):
        raise KubeconfigError(f"kubeconfig {path} has no current-context")
