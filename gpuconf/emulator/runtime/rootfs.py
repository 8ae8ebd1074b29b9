"""How a container process sees its mounts: a directory standing for its "/", made of symlinks.

Without mount namespaces or chroot a container process shares this machine's filesystem, so the
runtime gives each container a root directory: every mount it has (hostPath and emptyDir volumes,
the mounts and device nodes a device plugin's Allocate returned) is a symlink at its container
path inside that directory, pointing at the directory under the node's root it maps to. The
process starts with the root directory as its working directory and finds it in
$GPUCONF_CONTAINER_ROOT, so `$GPUCONF_CONTAINER_ROOT/usr/local/nvidia` (or, from the working
directory, `usr/local/nvidia`) is what the container knows as /usr/local/nvidia. Absolute paths
still name this machine's files.

Not emulated: readOnly and device permissions (a symlink refuses nothing), and a mount nested
inside another mount's path (the outer mount shows its own directory there).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

ROOT_ENV = "GPUCONF_CONTAINER_ROOT"


def on_node(node_root: Path, path: str) -> Path:
    """Where an absolute path of the node (a hostPath, a plugin's host_path) is on this machine.

    Normalised first, so `..` cannot climb out of the node's root."""
    return node_root / _absolute(path).lstrip("/")


def in_container(path: str) -> PurePosixPath:
    """A container path relative to the container's root ("/usr/local/nvidia" -> usr/local/nvidia)."""
    return PurePosixPath(_absolute(path)).relative_to("/")


def _absolute(path: str) -> str:
    # One leading slash: POSIX normpath keeps exactly two ("//var" stays "//var").
    return os.path.normpath("/" + path.lstrip("/"))


def build_rootfs(rootfs: Path, mounts: Mapping[str, Path]) -> Path:
    """Make (or refresh, for a restarted container) `rootfs` with a symlink per mount; return it."""
    rootfs.mkdir(parents=True, exist_ok=True)
    placed: list[PurePosixPath] = []
    # Shallow paths first, so a mount nested in another one is recognised and skipped.
    for container_path in sorted(mounts, key=lambda p: (len(in_container(p).parts), p)):
        relative = in_container(container_path)
        if not relative.parts or any(relative.is_relative_to(outer) for outer in placed):
            continue
        link = rootfs.joinpath(*relative.parts)
        target = str(mounts[container_path])
        if link.is_symlink():
            if os.readlink(link) == target:
                placed.append(relative)
                continue
            link.unlink()
        elif link.exists():
            continue  # a directory an earlier attempt made as a parent: leave it
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(target)
        placed.append(relative)
    return rootfs
