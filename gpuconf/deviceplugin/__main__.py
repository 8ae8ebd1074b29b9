"""`python -m gpuconf.deviceplugin`: a thin CLI over run_plugin (SIGTERM/SIGINT stop it cleanly)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from gpuconf.deviceplugin import api
from gpuconf.deviceplugin.config import (
    DEFAULT_PRODUCT,
    DEFAULT_RESOURCE,
    MODES,
    ConfigError,
    PluginConfig,
    env_setting,
    hidden_gpus,
)
from gpuconf.deviceplugin.plugin import DevicePlugin, discover

HEALTH_FILE_NAME = "gpuconf-health.json"


def parse_args(argv: list[str], env: dict[str, str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m gpuconf.deviceplugin", description=__doc__)
    parser.add_argument("--resource", default=DEFAULT_RESOURCE)
    parser.add_argument("--socket-dir", type=Path, default=Path(api.DEFAULT_SOCKET_DIR))
    parser.add_argument("--mode", choices=MODES, default="fake")
    parser.add_argument("--devices", type=int, help="fake GPUs (env GPUCONF_FAKE_GPU_COUNT, default 1)")
    parser.add_argument(
        "--product", help=f"fake GPU (env GPUCONF_FAKE_GPU_PRODUCT, default {DEFAULT_PRODUCT})"
    )
    parser.add_argument("--health-file", type=Path, help=f"default <socket-dir>/{HEALTH_FILE_NAME}")
    parser.add_argument("--list", action="store_true", help="print the devices it would advertise and exit")
    args = parser.parse_args(argv)
    if args.devices is None:
        count = env_setting(env, "COUNT") or "1"
        if not count.isdigit():
            parser.error(f"GPUCONF_FAKE_GPU_COUNT must be a whole number, not {count!r}")
        args.devices = int(count)
    args.product = args.product or env_setting(env, "PRODUCT") or DEFAULT_PRODUCT
    return args


def config_from(args: argparse.Namespace, env: dict[str, str]) -> PluginConfig:
    memory = env_setting(env, "MEMORY_GIB")
    try:
        memory_gib = float(memory) if memory else None
    except ValueError:
        raise ConfigError(f"GPUCONF_FAKE_GPU_MEMORY_GIB must be a number, not {memory!r}") from None
    return PluginConfig(
        resource=args.resource,
        socket_dir=args.socket_dir,
        mode=args.mode,
        devices=args.devices,
        product=args.product,
        compute_capability=env_setting(env, "COMPUTE_CAPABILITY"),
        memory_gib=memory_gib,
        health_file=args.health_file or args.socket_dir / HEALTH_FILE_NAME,
        nvml_hide=hidden_gpus(env),
    )


async def serve(config: PluginConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await DevicePlugin(config).run(stop)


def main(argv: list[str] | None = None) -> int:
    env = dict(os.environ)
    args = parse_args(sys.argv[1:] if argv is None else argv, env)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        config = config_from(args, env)
        if args.list:
            for device in discover(config):
                emulated = " (emulated)" if device.emulated else ""
                print(
                    f"{device.index}: {device.id} {device.product}"
                    f" compute capability {device.compute_capability}"
                    f" {device.memory_gib:.2f}GiB pci {device.pci_bus_id}{emulated}"
                )
            return 0
        asyncio.run(serve(config))
    except (ConfigError, RuntimeError) as err:
        print(f"gpuconf-device-plugin: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
