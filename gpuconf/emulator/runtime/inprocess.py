"""The fake NVIDIA device plugin as an asyncio task instead of a subprocess (the 1,000-node profile).

It is the same plugin code (`gpuconf.deviceplugin.run_plugin`) speaking the same gRPC over the
node's unix sockets; only the process boundary is gone, which saves ~40 MB of RSS per node.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from gpuconf.emulator.runtime.images import Program


def _flag(argv: list[str], name: str) -> str:
    try:
        return argv[argv.index(name) + 1]
    except (ValueError, IndexError):
        raise ValueError(f"device plugin command line lacks {name}: {argv}") from None


async def run_inprocess_plugin(program: Program, stop: asyncio.Event, log_path: Path) -> int:
    """Run the plugin described by `program` until `stop` is set; its log lines go to log_path."""
    from gpuconf.deviceplugin.config import PluginConfig, hidden_gpus
    from gpuconf.deviceplugin.plugin import run_plugin

    # One logger per node, writing to that container's log file (what `kubectl logs` shows).
    logger = logging.getLogger(f"gpuconf.emulator.plugin.{log_path.parent.parent.name}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler = logging.FileHandler(log_path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    logger.addHandler(handler)
    try:
        config = PluginConfig(
            mode=_flag(program.argv, "--mode"),
            devices=int(_flag(program.argv, "--devices")),
            product=_flag(program.argv, "--product"),
            socket_dir=Path(_flag(program.argv, "--socket-dir")),
            health_file=Path(_flag(program.argv, "--health-file"))
            if "--health-file" in program.argv
            else None,
            nvml_hide=hidden_gpus(program.env),
            logger=logger,
        )
        await run_plugin(config, stop)
    finally:
        logger.removeHandler(handler)
        handler.close()
    return 0
