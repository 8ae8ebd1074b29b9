"""Raw HTTP against the embedded server, for what typed clients hide (status codes, watch frames)."""

from __future__ import annotations

import http.client
import json
import socket
from typing import Any
from urllib.parse import urlsplit

REQUEST_TIMEOUT_S = 10.0


def connect(url: str, timeout: float = REQUEST_TIMEOUT_S) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)


def request(
    url: str, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    """(status, headers, decoded JSON body or raw text)."""
    conn = connect(url)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        raw = response.read()
        try:
            decoded: Any = json.loads(raw)
        except ValueError:
            decoded = raw.decode(errors="replace")
        return response.status, dict(response.getheaders()), decoded
    finally:
        conn.close()


class WatchStream:
    """An open watch: read events one line at a time with a bounded wait for each."""

    def __init__(
        self,
        url: str,
        path: str,
        *,
        timeout: float = REQUEST_TIMEOUT_S,
        accept: str = "",
        receive_buffer: int | None = None,
    ) -> None:
        """`receive_buffer`: a fixed SO_RCVBUF for the client socket (set before connecting, so the
        kernel neither autotunes it nor advertises a bigger window): a client that reads slowly."""
        self.conn = connect(url, timeout)
        if receive_buffer is not None:
            parts = urlsplit(url)
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
            sock.settimeout(timeout)
            sock.connect((parts.hostname, parts.port))
            self.conn.sock = sock  # http.client uses a socket already set instead of connecting
        self.conn.request("GET", path, headers={"Accept": accept} if accept else {})
        self.response = self.conn.getresponse()

    def next(self) -> dict[str, Any] | None:
        """The next event, or None when the server ended the stream; socket.timeout if none comes in time."""
        line = self.response.readline()
        return json.loads(line) if line else None

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> WatchStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["WatchStream", "request", "connect", "socket"]
