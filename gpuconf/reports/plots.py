"""The accuracy curve as a small PNG: `plot_accuracy(points, out_png, title)`.

Uses matplotlib's object API on an Agg canvas (no pyplot): no display needed, no global figure
state shared between xdist workers or threads. `python -m gpuconf.reports.plots POINTS.json OUT.png`
draws one from a file ({"points": [[step, value], ...], "title": "..."}): the suite starts that as a
child process so matplotlib's import (~0.4 s) runs beside the tests, not in them.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from gpuconf.checks.accuracy import DEFAULT_MIN_FINAL
from gpuconf.reports.files import write_bytes_atomic
from gpuconf.reports.redact import redact

_SIZE_INCHES = (5.0, 3.0)
_DPI = 80


def plot_accuracy(points: Sequence[tuple[int, float]], out_png: Path | str, title: str) -> Path:
    """Draw accuracy against step (with the pass threshold) and write it atomically as PNG."""
    figure = Figure(figsize=_SIZE_INCHES, dpi=_DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    if points:
        steps, values = zip(*points, strict=True)
        axes.plot(steps, values, marker=".", linewidth=1.2)
    else:
        axes.text(0.5, 0.5, "no accuracy points", ha="center", va="center", transform=axes.transAxes)
    axes.axhline(DEFAULT_MIN_FINAL, color="grey", linestyle="--", linewidth=0.8)
    axes.set_ylim(0.0, 1.0)
    axes.set_xlabel("step")
    axes.set_ylabel("accuracy")
    axes.set_title(redact(title), fontsize=9)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return write_bytes_atomic(out_png, buffer.getvalue())


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m gpuconf.reports.plots POINTS.json OUT.png", file=sys.stderr)
        return 2
    data = json.loads(Path(argv[0]).read_text())
    plot_accuracy([(int(step), float(value)) for step, value in data["points"]], argv[1], data["title"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
