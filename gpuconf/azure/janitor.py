"""`python -m gpuconf.azure.janitor`: list (and with --delete, delete) expired gpuconf resource groups.

A group is ours only when tagged created-by=gpuconf; it is expired when its expires-at tag lies in
the past. Dry run by default: it prints what it would delete. Groups whose expires-at cannot be
parsed are reported and left alone (deleting on a guess is how shared subscriptions lose work).
Settings come from the same GPUCONF_* / AZURE_SUBSCRIPTION_ID variables as the suite.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial

from azure.core.exceptions import AzureError

from gpuconf.azure.clients import ArmClients, make_clients, make_credential
from gpuconf.azure.operations import LongOperation, ProgressLog, run_all
from gpuconf.azure.plan import CREATED_BY, TAG_CREATED_BY, TAG_EXPIRES_AT, TAG_OWNER
from gpuconf.azure.settings import SettingsError, resolve
from gpuconf.azure.verdicts import to_verdict


@dataclass(frozen=True)
class GroupVerdict:
    name: str
    expires_at: str
    owner: str
    expired: bool
    problem: str = ""


def parse_expiry(text: str) -> dt.datetime | None:
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def judge(name: str, tags: Mapping[str, str] | None, now: dt.datetime) -> GroupVerdict | None:
    """None for groups that are not ours; otherwise whether ours has expired."""
    tags = tags or {}
    if tags.get(TAG_CREATED_BY) != CREATED_BY:
        return None
    raw = tags.get(TAG_EXPIRES_AT, "")
    expiry = parse_expiry(raw)
    owner = tags.get(TAG_OWNER, "?")
    if expiry is None:
        return GroupVerdict(name, raw, owner, False, f"unreadable {TAG_EXPIRES_AT} tag {raw!r}: left alone")
    return GroupVerdict(name, raw, owner, expiry <= now)


def find_groups(clients: ArmClients, now: dt.datetime) -> list[GroupVerdict]:
    verdicts = (judge(g.name or "", g.tags, now) for g in clients.resources.resource_groups.list())
    return sorted((v for v in verdicts if v is not None), key=lambda v: v.name)


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    environ = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(
        prog="python -m gpuconf.azure.janitor", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--subscription", help="subscription id (default AZURE_SUBSCRIPTION_ID/GPUCONF_SUBSCRIPTION)"
    )
    parser.add_argument("--arm-endpoint", help="ARM URL (default GPUCONF_ARM_ENDPOINT or the public cloud)")
    parser.add_argument(
        "--delete", action="store_true", help="really delete the expired groups (default: dry run)"
    )
    parser.add_argument("--now", help="judge expiry at this ISO time instead of the current time")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds the deletions may take in all")
    args = parser.parse_args(argv)
    now = parse_expiry(args.now) if args.now else dt.datetime.now(dt.UTC)
    if now is None:
        parser.error(f"--now: not an ISO time: {args.now!r}")
    try:
        settings = resolve(
            {"aks_subscription": args.subscription, "aks_arm_endpoint": args.arm_endpoint}, environ
        )
    except SettingsError as err:
        parser.error(str(err))
    if not settings.subscription:
        parser.error("no subscription: pass --subscription or set AZURE_SUBSCRIPTION_ID")
    progress = ProgressLog(prefix="[gpuconf janitor]")
    clients = make_clients(settings, *make_credential(settings))
    try:
        return _sweep(clients, now, args.delete, args.timeout, progress)
    except AzureError as err:
        print(
            f"janitor: {to_verdict(err, 'listing resource groups', clients.credential_description)}",
            file=sys.stderr,
        )
        return 2
    finally:
        clients.close()


def _sweep(
    clients: ArmClients, now: dt.datetime, delete: bool, timeout_s: float, progress: ProgressLog
) -> int:
    groups = find_groups(clients, now)
    expired = [g for g in groups if g.expired]
    for group in groups:
        state = "EXPIRED" if group.expired else group.problem or "active"
        print(f"{group.name}\texpires-at={group.expires_at}\towner={group.owner}\t{state}")
    if not expired:
        print("nothing to delete")
        return 0
    if not delete:
        print(f"dry run: would delete {len(expired)} group(s); pass --delete to delete them")
        return 0
    groups_api = clients.resources.resource_groups
    operations = [
        LongOperation(f"deleting resource group {g.name}", partial(groups_api.begin_delete, g.name))
        for g in expired
    ]
    run_all(operations, timeout_s=timeout_s, progress_every_s=30.0, progress=progress)
    print(f"deleted {len(expired)} group(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
