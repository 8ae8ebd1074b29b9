"""Strip secrets from any text before a report writer puts it on disk.

Reports are uploaded as CI artifacts and attached to issues, and what they contain comes from
places that carry credentials: kubeconfigs (`token:`, `client-key-data:`), HTTP traces
(`Authorization: Bearer ...`), Azure URLs with SAS signatures, pod logs that echo environment
variables. Every writer in gpuconf.reports calls `redact` on its text; nothing else is trusted.
"""

from __future__ import annotations

import re

MASK = "[REDACTED]"

# A whole PEM block (private keys AND certificates: a client certificate identifies the user).
_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----.*?-----END \1-----", re.DOTALL)

# `Authorization: <anything>` to the end of the line, as HTTP headers and curl -v traces print it,
# also in JSON/dict form ("Authorization": "Bearer x").
_AUTH_HEADER = re.compile(
    r"""(?P<key>["']?(?:proxy-)?authorization["']?[ \t]*[:=][ \t]*["']?)(?P<val>[^"'\r\n]+)""", re.IGNORECASE
)

_BEARER = re.compile(r"(?P<key>\bbearer\s+)(?P<val>[A-Za-z0-9\-._~+/]+=*)", re.IGNORECASE)

# key: value / key=value pairs whose value is a secret, in YAML, JSON, env dumps and CLI flags.
# The value may be quoted (then everything inside the quotes goes) or bare (up to a separator); it
# must be on the same line, so a YAML mapping key like `secret:` does not swallow the next line.
_SECRET_KEYS = (
    r"token|access[-_]?token|refresh[-_]?token|id[-_]?token|client[-_]?key[-_]?data"
    r"|client[-_]?certificate[-_]?data|client[-_]?secret|password|passwd|pwd|secret"
    r"|account[-_]?key|shared[-_]?access[-_]?key|api[-_]?key"
)
_SECRET_PAIR = re.compile(
    rf"""(?P<key>(?<![A-Za-z0-9])(?:--)?["']?(?:{_SECRET_KEYS})["']?[ \t]*[:=][ \t]*)"""
    # An already-masked value matches as a whole, so redact() is idempotent.
    r"""(?P<val>\[REDACTED\]|"[^"\r\n]*"|'[^'\r\n]*'|[^\s,;&"'}\]]+)""",
    re.IGNORECASE,
)

# Azure SAS tokens: the signature is the secret part of ...?sv=...&sig=<base64>.
_SAS_SIGNATURE = re.compile(r"(?P<key>[?&]sig=)(?P<val>[A-Za-z0-9%+/=_-]+)", re.IGNORECASE)

# Bare JWTs (service-account tokens, Entra ID access tokens) wherever they appear.
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}")


def _mask_value(match: re.Match[str]) -> str:
    value = match.group("val")
    if value[:1] in "\"'" and value[-1:] == value[:1] and len(value) >= 2:
        return f"{match.group('key')}{value[0]}{MASK}{value[0]}"
    return f"{match.group('key')}{MASK}"


def redact(text: str) -> str:
    """Return `text` with bearer tokens, PEM blocks, secret key/values, SAS signatures and
    Authorization headers replaced by [REDACTED]. Idempotent: redact(redact(x)) == redact(x)."""
    text = _PEM_BLOCK.sub(lambda m: f"-----BEGIN {m.group(1)}----- {MASK} -----END {m.group(1)}-----", text)
    text = _AUTH_HEADER.sub(_mask_value, text)
    text = _BEARER.sub(_mask_value, text)
    text = _SECRET_PAIR.sub(_mask_value, text)
    text = _SAS_SIGNATURE.sub(_mask_value, text)
    return _JWT.sub(MASK, text)
