"""ROS-TCP protocol constants and the registration records shared by the bridge and the Unity-like client."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .connection import FrameConnection
from .framing import ProtocolError, encode_syscommand
from .messages import MessageTypes

__all__ = [
    "FIRST_SRV_ID",
    "HANDSHAKE",
    "HANDSHAKE_VERSION",
    "REGISTRATIONS",
    "REMOVALS",
    "SERVICE_COMMANDS",
    "UNITY_LOG_LEVELS",
    "PlayerLink",
    "Registration",
    "command_to_unity",
    "parse_registration",
    "topic_key",
]

HANDSHAKE_VERSION = "v0.7.0"
HANDSHAKE = {"version": HANDSHAKE_VERSION, "metadata": '{"protocol": "ROS2"}'}
"""Parameters of the ``__handshake`` the endpoint sends first on every connection."""
FIRST_SRV_ID = 1001
"""The endpoint allocates service-call ids from here."""
SERVICE_COMMANDS = frozenset({"__unity_service", "__ros_service", "__remove_unity_service", "__remove_ros_service"})
UNITY_LOG_LEVELS = {"__log": logging.INFO, "__warn": logging.WARNING, "__error": logging.ERROR}
REGISTRATIONS = {
    "__publish": "publishers", "__publish_qos": "publishers", "__subscribe": "subscribers",
    "__subscribe_qos": "subscribers", "__unity_service": "unity_services", "__ros_service": "ros_services",
}  # fmt: skip
REMOVALS = {
    "__remove_publisher": "publishers", "__remove_subscriber": "subscribers",
    "__remove_unity_service": "unity_services", "__remove_ros_service": "ros_services",
}  # fmt: skip


def command_to_unity(name: str, params: Mapping[str, Any]) -> bytes:
    """A system-command frame for Unity: bare JSON without the trailing NUL, as ``ros_tcp_endpoint`` sends."""
    return encode_syscommand(name, params, trailing_nul=False)


def topic_key(topic: str) -> str:
    """Lookup key for a topic/service name: ``env_0/step`` and ``/env_0/step`` are the same."""
    return "/" + topic.strip().lstrip("/")


@dataclass(frozen=True)
class Registration:
    """One topic/service registration sent by Unity: the exact name it used and its message type."""

    topic: str
    message_name: str
    types: tuple[str, ...]  # resolved rosbags names: (msg,) or (request, response)


def parse_registration(command: str, params: Mapping[str, Any], types: MessageTypes) -> Registration:
    """Validate a registration command's JSON and resolve its type (services resolve to request/response)."""
    topic, message_name = params.get("topic"), params.get("message_name")
    if not isinstance(topic, str) or not topic.strip() or not isinstance(message_name, str):
        raise ProtocolError(f"{command} needs string 'topic' and 'message_name', got {dict(params)!r}")
    service = command in SERVICE_COMMANDS
    try:
        resolved = types.resolve_service(message_name) if service else (types.resolve(message_name),)
    except KeyError as exc:
        raise ProtocolError(f"{command} for {topic!r}: {exc}") from None
    return Registration(topic, message_name, resolved)


@dataclass
class PlayerLink:
    """The connected player (one per bridge): its connection, its registrations and what its next frame carries.

    "Session" is kept for a simulator connection as the env sees it (`unity_workers.session.SimSession`).
    """

    conn: FrameConnection
    regs: dict[str, dict[str, Registration]] = field(default_factory=lambda: defaultdict(dict))
    expect: tuple[str, int] | None = None  # ("__request" | "__response", srv_id) for the next frame

    def lookup(self, table: str, name: str) -> Registration | None:
        """The registration of ``name`` in ``table`` ("publishers", "subscribers", "unity_services", ...)."""
        return self.regs[table].get(topic_key(name))

    def table(self, table: str) -> dict[str, str]:
        """``table`` as name → ``message_name``, with the names exactly as Unity sent them."""
        return {r.topic: r.message_name for r in self.regs[table].values()}


def parse_srv_id(command: str, params: Mapping[str, Any]) -> int:
    """The integer `srv_id` of a `__request` / `__response` command; ProtocolError otherwise."""
    srv_id = params.get("srv_id")
    if not isinstance(srv_id, int) or isinstance(srv_id, bool):
        raise ProtocolError(f"{command} needs an integer 'srv_id', got {params!r}")
    return srv_id
