"""The per-launch token of the gRPC env protocol: a session talks only to the simulator it launched.

The session picks a port that was free a moment ago and the player binds it later, so another env's
simulator may hold that port by then (two envs starting together). To catch that, each session
makes a fresh random token and hands it to its player in :data:`TOKEN_ENV`; every call carries it as
the metadata entry :data:`TOKEN_METADATA`, and a simulator started with a token answers calls without
the same token with ``PERMISSION_DENIED``. The session turns that into :class:`LaunchTokenError`
(a ``ConnectionError``: ``UnityEnv`` restarts the player on a fresh port).
"""

from __future__ import annotations

from collections.abc import Sequence

from unity_workers.launch_tokens import TokenScheme, tokens_match

__all__ = [
    "TOKEN_ENV",
    "TOKEN_METADATA",
    "TOKEN_SCHEME",
    "LaunchTokenError",
    "new_token",
    "token_from_env",
    "token_problem",
]

TOKEN_SCHEME = TokenScheme(env_var="RAY_LAB_GRPC_TOKEN", nbytes=16)
"""The gRPC protocol's launch tokens: 32 hex digits, handed over in :data:`TOKEN_ENV`."""
TOKEN_ENV = TOKEN_SCHEME.env_var
"""Environment variable that hands a gRPC simulator its per-launch token."""
TOKEN_METADATA = "x-ray-lab-token"
"""Call metadata key (lower case, as gRPC requires) that carries the token on every call."""


class LaunchTokenError(ConnectionError):
    """The server on the session's port is not the simulator this session launched (token mismatch)."""


new_token = TOKEN_SCHEME.new_token
"""A fresh random token for one player start (32 hex digits)."""
token_from_env = TOKEN_SCHEME.token_from_env
"""The token in :data:`TOKEN_ENV` of ``environ`` (default ``os.environ``); None when unset or empty."""


def token_problem(metadata: Sequence[tuple[str, str | bytes]] | None, expected: str) -> str | None:
    """Why ``metadata`` (a call's invocation metadata) does not carry ``expected``; None when it does."""
    offered = [value for key, value in metadata or () if key == TOKEN_METADATA]
    if not offered:
        return f"the call has no {TOKEN_METADATA} metadata"
    if not tokens_match(offered[0], expected):
        return f"the call's {TOKEN_METADATA} is not this simulator's launch token"
    return None
