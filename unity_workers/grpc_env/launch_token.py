"""The per-launch token of the gRPC env protocol: a session talks only to the simulator it launched.

The session picks a port that was free a moment ago and the player binds it later, so another env's
simulator may hold that port by then (two envs starting together). To catch that, each session
makes a fresh random token and hands it to its player in :data:`TOKEN_ENV`; every call carries it as
the metadata entry :data:`TOKEN_METADATA`, and a simulator started with a token answers calls without
the same token with ``PERMISSION_DENIED``. The session turns that into :class:`LaunchTokenError`
(a ``ConnectionError``: ``UnityEnv`` restarts the player on a fresh port).
"""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Mapping, Sequence

__all__ = ["TOKEN_ENV", "TOKEN_METADATA", "LaunchTokenError", "new_token", "token_from_env", "token_problem"]

TOKEN_ENV = "RAY_LAB_GRPC_TOKEN"
"""Environment variable that hands a gRPC simulator its per-launch token."""
TOKEN_METADATA = "x-ray-lab-token"
"""Call metadata key (lower case, as gRPC requires) that carries the token on every call."""


class LaunchTokenError(ConnectionError):
    """The server on the session's port is not the simulator this session launched (token mismatch)."""


def new_token() -> str:
    """A fresh random token for one player start (32 hex digits)."""
    return secrets.token_hex(16)


def token_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    """The token in :data:`TOKEN_ENV` of ``environ`` (default ``os.environ``); None when unset or empty."""
    value = (os.environ if environ is None else environ).get(TOKEN_ENV, "").strip()
    return value or None


def token_problem(metadata: Sequence[tuple[str, str | bytes]] | None, expected: str) -> str | None:
    """Why ``metadata`` (a call's invocation metadata) does not carry ``expected``; None when it does."""
    offered = [value for key, value in metadata or () if key == TOKEN_METADATA]
    if not offered:
        return f"the call has no {TOKEN_METADATA} metadata"
    value = offered[0]
    raw = value if isinstance(value, bytes) else value.encode("utf-8", errors="replace")
    if not hmac.compare_digest(raw, expected.encode("utf-8")):
        return f"the call's {TOKEN_METADATA} is not this simulator's launch token"
    return None
