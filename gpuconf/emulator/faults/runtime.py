"""Faults the emulated kubelet applies when it pulls an image or starts a container.

One `RuntimeFaults` is shared by every kubelet of a cluster. The default one changes nothing, so a
kubelet without faults behaves exactly as before; the catalogue fills it in for the faults it needs
(a registry that refuses an image, a slow pull, a different program or environment for a container).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from gpuconf.emulator.runtime import images

# (kind, launch context) -> None: edits the context before the program is built from it.
ContextEdit = Callable[[images.LaunchContext], None]
# program -> program: replaces or edits what the container runs.
ProgramEdit = Callable[[images.Program], images.Program]


def not_found_message(image: str) -> str:
    """What containerd reports for a tag the registry does not have (ErrImagePull's message)."""
    return (
        f'rpc error: code = NotFound desc = failed to pull and unpack image "{image}": '
        f'failed to resolve reference "{image}": {image}: not found'
    )


@dataclass
class RuntimeFaults:
    # catalogue kind (images.DEVICE_PLUGIN, images.WORKLOAD) -> the registry refuses that image
    unpullable: set[str] = field(default_factory=set)
    # catalogue kind -> extra seconds a successful pull takes
    pull_delay_s: dict[str, float] = field(default_factory=dict)
    context_edits: dict[str, list[ContextEdit]] = field(default_factory=dict)
    program_edits: dict[str, list[ProgramEdit]] = field(default_factory=dict)

    def pull_error(self, kind: str, image: str) -> images.ImagePullError | None:
        return images.ImagePullError(not_found_message(image)) if kind in self.unpullable else None

    def pull_delay(self, kind: str) -> float:
        return self.pull_delay_s.get(kind, 0.0)

    def build_program(self, kind: str, ctx: images.LaunchContext) -> images.Program:
        """images.build_program with this cluster's faults applied around it."""
        for edit in self.context_edits.get(kind, []):
            edit(ctx)
        program = images.build_program(kind, ctx)
        for change in self.program_edits.get(kind, []):
            program = change(program)
        return program
