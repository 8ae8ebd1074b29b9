"""The wire schema the emulated API server decodes bodies against, taken from the official client.

The official Python client's generated models are generated from the Kubernetes OpenAPI document;
each has `openapi_types` (field -> type) and `attribute_map` (field -> JSON name). The models the
served resources reach (191 of them) are written once to wire_schema.json beside this module, and
the server reads that file. Reading the models themselves would mean importing the official client
and, in kubernetes 37, building its pydantic models: 0.6 s of every emulator start
(bench/results/issue8.md), where reading the file takes a few milliseconds.

After upgrading the `kubernetes` package, regenerate (tests/emulator_api/test_wire_schema.py fails
until you do):

    python -m gpuconf.emulator.wire_schema --write
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from functools import cache
from pathlib import Path

from gpuconf.emulator.resources import RESOURCES

SNAPSHOT = Path(__file__).with_name("wire_schema.json")
# Type strings that name no model: the decoder checks these itself.
SCALAR_TYPES = frozenset({"str", "int", "bool", "float", "object", "datetime", "date", "bytes"})
REGENERATE = "python -m gpuconf.emulator.wire_schema --write"
TYPE_WORD = re.compile(r"[A-Za-z0-9_]+")

Schema = dict[str, dict[str, str]]  # model -> JSON field name -> the client's type string


def root_models() -> list[str]:
    return sorted({resource.model for resource in RESOURCES})


def from_client(roots: list[str]) -> Schema:
    """Walk the installed official client's models from `roots` (imports the client: slow)."""
    from kubernetes.client import models

    schema: Schema = {}
    pending = list(roots)
    while pending:
        name = pending.pop()
        if name in schema:
            continue
        model = getattr(models, name)
        schema[name] = {model.attribute_map[attr]: typ for attr, typ in model.openapi_types.items()}
        for typ in schema[name].values():
            pending.extend(word for word in TYPE_WORD.findall(typ) if _names_a_model(word))
    return dict(sorted(schema.items()))


def _names_a_model(word: str) -> bool:
    return word not in SCALAR_TYPES and word not in ("List", "Dict") and word[:1].isupper()


@cache
def load() -> Schema:
    return json.loads(SNAPSHOT.read_text())


def fields(model: str) -> dict[str, str]:
    """JSON field name -> the client's type string, for one model."""
    try:
        return load()[model]
    except KeyError:
        raise KeyError(f"{model} is not in {SNAPSHOT.name}: regenerate it ({REGENERATE})") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gpuconf.emulator.wire_schema", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--write", action="store_true", help=f"rewrite {SNAPSHOT.name} from the installed client"
    )
    args = parser.parse_args(argv)
    text = json.dumps(from_client(root_models()), indent=1, sort_keys=True) + "\n"
    if not args.write:
        sys.stdout.write(text)
        return 0
    SNAPSHOT.write_text(text)
    print(f"wrote {SNAPSHOT} ({len(json.loads(text))} models)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
