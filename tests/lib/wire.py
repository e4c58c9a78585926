"""What a listener answers a plaintext request with: the tests' check that a port speaks only TLS."""

from __future__ import annotations

import socket

# A Kafka ApiVersions v0 request, correlation id 1, length-framed; a Kafka answer echoes the id.
_REQUEST = b"\x00\x12\x00\x00" + b"\x00\x00\x00\x01" + b"\x00\x04rstr"
API_VERSIONS = len(_REQUEST).to_bytes(4, "big") + _REQUEST


def plaintext_answer(port: int, host: str, request: bytes = API_VERSIONS) -> bytes:
    """The first bytes a listener answers `request` with, sent in plaintext (default: Kafka ApiVersions)."""
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(request)
        s.settimeout(5)
        try:
            return s.recv(64)
        except (socket.timeout, ConnectionResetError):
            return b""
