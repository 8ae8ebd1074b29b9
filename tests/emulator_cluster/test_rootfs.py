"""The container root directory through which a container process sees its mounts."""

from __future__ import annotations

import os
from pathlib import Path

from gpuconf.emulator.runtime.rootfs import build_rootfs, on_node


def test_every_mount_is_a_symlink_at_its_container_path(tmp_path: Path) -> None:
    node = tmp_path / "node"
    plugins, driver = node / "var/lib/kubelet/device-plugins", node / "opt/widget"
    for directory in (plugins, driver):
        directory.mkdir(parents=True)
    rootfs = build_rootfs(
        tmp_path / "rootfs",
        {"/var/lib/kubelet/device-plugins": plugins, "/usr/local/widget": driver},
    )
    assert os.readlink(rootfs / "var/lib/kubelet/device-plugins") == str(plugins)
    assert os.readlink(rootfs / "usr/local/widget") == str(driver)
    assert sorted(p.name for p in rootfs.iterdir()) == ["usr", "var"]


def test_a_restart_keeps_the_links_and_a_changed_target_is_replaced(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    new.mkdir()
    rootfs = build_rootfs(tmp_path / "rootfs", {"/data": old})
    assert build_rootfs(rootfs, {"/data": old}) == rootfs
    assert os.readlink(rootfs / "data") == str(old)
    build_rootfs(rootfs, {"/data": new})
    assert os.readlink(rootfs / "data") == str(new)


def test_a_mount_inside_another_mount_is_not_written_into_the_outer_ones_directory(tmp_path: Path) -> None:
    outer, inner = tmp_path / "outer", tmp_path / "inner"
    outer.mkdir()
    inner.mkdir()
    rootfs = build_rootfs(tmp_path / "rootfs", {"/a/b": inner, "/a": outer})
    assert os.readlink(rootfs / "a") == str(outer)
    assert list(outer.iterdir()) == [], "the host directory behind /a is left alone"


def test_node_paths_stay_under_the_node_root(tmp_path: Path) -> None:
    assert on_node(tmp_path, "/var/lib/kubelet") == tmp_path / "var/lib/kubelet"
    assert on_node(tmp_path, "//dev/nvidia0") == tmp_path / "dev/nvidia0"
    assert on_node(tmp_path, "/../../etc/passwd") == tmp_path / "etc/passwd"
