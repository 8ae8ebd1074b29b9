"""Accuracy plot (a real PNG) and the GPU failure bundle (sorted events, capacity table, redaction)."""

from __future__ import annotations

import pytest

from gpuconf.reports import ReportDirError
from gpuconf.reports.bundle import write_failure_bundle
from gpuconf.reports.plots import plot_accuracy

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_plot_writes_a_non_empty_png(tmp_path):
    points = [(i * 10, min(0.95, 0.1 + i * 0.05)) for i in range(50)]
    out = plot_accuracy(points, tmp_path / "plots" / "accuracy.png", "samples-tf-mnist-demo on Standard_NC6")
    data = out.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 1000
    assert data[12:16] == b"IHDR"
    assert [p.name for p in out.parent.iterdir()] == ["accuracy.png"]  # no temp file left behind


def test_plot_of_no_points_still_writes_a_png(tmp_path):
    assert plot_accuracy([], tmp_path / "empty.png", "no data").read_bytes().startswith(PNG_SIGNATURE)


def test_plot_into_an_unwritable_place_raises_report_dir_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ReportDirError, match="file"):
        plot_accuracy([(0, 0.1)], tmp_path / "file" / "a.png", "t")


EVENTS = [
    {
        "type": "Warning",
        "reason": "FailedScheduling",
        "message": "0/1 nodes are available: 1 Insufficient nvidia.com/gpu.",
        "involvedObject": {"kind": "Pod", "name": "samples-tf-mnist-demo-mtd44"},
        "lastTimestamp": "2026-11-28T14:00:05Z",
        "count": 3,
    },
    {
        "type": "Normal",
        "reason": "SuccessfulCreate",
        "message": "Created pod: samples-tf-mnist-demo-mtd44",
        "involvedObject": {"kind": "Job", "name": "samples-tf-mnist-demo"},
        "firstTimestamp": "2026-11-28T14:00:01Z",
        "lastTimestamp": "2026-11-28T14:00:01Z",
    },
    {  # events.k8s.io/v1 shape: eventTime + regarding + note
        "type": "Normal",
        "reason": "Scheduled",
        "note": "Successfully assigned default/x to aks-nodepool1-28993262-0",
        "regarding": {"kind": "Pod", "name": "x"},
        "eventTime": "2026-11-28T14:00:03.123456Z",
    },
]


def test_failure_bundle_files_and_contents(tmp_path):
    written = write_failure_bundle(
        tmp_path / "bundle",
        events=EVENTS,
        pods_describe={"samples-tf-mnist-demo-mtd44": "Name: samples-tf-mnist-demo-mtd44\nStatus: Pending\n"},
        pod_logs={"samples-tf-mnist-demo-mtd44/samples-tf-mnist-demo": "Accuracy at step 0: 0.1\n"},
        node_capacity={
            "aks-nodepool1-28993262-0": {
                "capacity": {"cpu": "6", "nvidia.com/gpu": "1"},
                "allocatable": {"cpu": "5916m", "nvidia.com/gpu": "0"},
            },
            "aks-cpu-0": {"status": {"capacity": {"cpu": "4"}, "allocatable": {"cpu": "3860m"}}},
        },
        plugin_logs={"nvidia-device-plugin-daemonset-bbjlq": "Registered device plugin with Kubelet\n"},
    )
    root = tmp_path / "bundle"
    names = sorted(str(p.relative_to(root)) for p in written)
    assert names == [
        "README.md",
        "device-plugin/nvidia-device-plugin-daemonset-bbjlq.log",
        "events.txt",
        "logs/samples-tf-mnist-demo-mtd44_samples-tf-mnist-demo.log",
        "nodes.txt",
        "pods/samples-tf-mnist-demo-mtd44.describe.txt",
    ]
    events = (root / "events.txt").read_text().splitlines()
    assert [line.split()[2] for line in events] == ["SuccessfulCreate", "Scheduled", "FailedScheduling"]
    assert events[2].endswith("1 Insufficient nvidia.com/gpu. (x3)")
    nodes = (root / "nodes.txt").read_text()
    gpu_row = next(line for line in nodes.splitlines() if "nvidia.com/gpu" in line and "differs" in line)
    assert gpu_row.split()[:3] == ["nvidia.com/gpu", "1", "0"]
    cpu_node = nodes.split("node aks-cpu-0")[1].split("node ")[0]
    assert "not advertised" in cpu_node
    assert "events.txt" in (root / "README.md").read_text()


def test_bundle_redacts_every_file(tmp_path):
    secret = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXNlY3JldA"
    write_failure_bundle(
        tmp_path,
        events=[{"reason": "Leak", "message": f"Authorization: Bearer {secret}"}],
        pods_describe={"p": f"Environment:\n  TOKEN: {secret}\n"},
        pod_logs={"p": f"password={secret}\n"},
        plugin_logs={"plugin": f"client-key-data: {secret}\n"},
    )
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) == 6
    for path in files:
        assert secret not in path.read_text(), path


def test_empty_bundle_still_explains_itself(tmp_path):
    write_failure_bundle(tmp_path)
    assert (tmp_path / "events.txt").read_text() == "(no events)\n"
    assert (tmp_path / "nodes.txt").read_text() == "(no nodes)\n"


def test_hostile_item_names_stay_inside_the_bundle(tmp_path):
    written = write_failure_bundle(tmp_path / "b", pod_logs={"../../etc/passwd": "x"})
    assert all((tmp_path / "b") in p.parents for p in written)


def test_plots_cli_draws_from_a_points_file_and_refuses_bad_usage(tmp_path):
    import json
    import subprocess
    import sys

    points = tmp_path / "points.json"
    points.write_text(json.dumps({"points": [[0, 0.1], [10, 0.8], [490, 0.95]], "title": "pod: accuracy"}))
    out = tmp_path / "curve.png"
    done = subprocess.run(
        [sys.executable, "-m", "gpuconf.reports.plots", str(points), str(out)],
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    usage = subprocess.run(
        [sys.executable, "-m", "gpuconf.reports.plots"], capture_output=True, text=True, timeout=120
    )
    assert usage.returncode == 2 and "usage: python -m gpuconf.reports.plots" in usage.stderr
