"""Constants and gRPC options shared by the env server and the client session."""

from __future__ import annotations

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_MAX_MESSAGE_BYTES",
    "PROTOCOL_VERSION",
    "SERVICE_NAME",
    "channel_options",
    "check_max_message_bytes",
    "format_address",
    "server_options",
]

PROTOCOL_VERSION = 1
"""The ``protocol_version`` a server sends in ``SpecReply``; a client refuses any other."""
SERVICE_NAME = "ray_lab.env.v1.EnvService"
DEFAULT_HOST = "127.0.0.1"
"""Env servers bind loopback unless configured otherwise (the protocol has no authentication)."""
DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024
"""Largest request or reply accepted or sent (gRPC's own default is 4 MiB)."""


def check_max_message_bytes(value: int) -> int:
    """``value`` as an int in 1 KiB .. 2 GiB - 1 (gRPC's limit); raises ``ValueError`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1024 <= value < 2**31:
        raise ValueError(f"max_message_bytes must be an int in 1024..{2**31 - 1}, got {value!r}")
    return value


def format_address(host: str, port: int) -> str:
    """``host:port`` for gRPC, with IPv6 literals in brackets (``[::1]:50051``)."""
    if not 0 <= port < 65536:
        raise ValueError(f"port must be in 0..65535, got {port}")
    if ":" in host and not host.startswith("["):
        return f"[{host}]:{port}"
    return f"{host}:{port}"


def server_options(max_message_bytes: int) -> list[tuple[str, int]]:
    """Server options: message size limits, and no ``SO_REUSEPORT`` (two servers on one port must fail)."""
    size = check_max_message_bytes(max_message_bytes)
    return [
        ("grpc.max_receive_message_length", size),
        ("grpc.max_send_message_length", size),
        ("grpc.so_reuseport", 0),
    ]


def channel_options(max_message_bytes: int) -> list[tuple[str, int]]:
    """Client options: message size limits, quick reconnects while a player starts, no HTTP proxy."""
    size = check_max_message_bytes(max_message_bytes)
    return [
        ("grpc.max_receive_message_length", size),
        ("grpc.max_send_message_length", size),
        ("grpc.initial_reconnect_backoff_ms", 50),
        ("grpc.min_reconnect_backoff_ms", 50),
        ("grpc.max_reconnect_backoff_ms", 500),
        ("grpc.enable_http_proxy", 0),
    ]
