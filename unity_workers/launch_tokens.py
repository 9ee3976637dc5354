"""Per-launch tokens: each player start gets a fresh random secret, and only a peer that shows it is served.

Both simulator protocols use them, each with its own :class:`TokenScheme` (environment variable and size): the
gRPC env protocol (:mod:`unity_workers.grpc_env.launch_token`) and the ROS-TCP bridge
(:mod:`unity_workers.ros_tcp.admission`). Standard library only, so any ``unity_workers`` package may
import it.
"""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["TokenScheme", "tokens_match"]


@dataclass(frozen=True)
class TokenScheme:
    """How one protocol hands a player its per-launch token: in ``env_var``, ``nbytes`` random bytes as hex."""

    env_var: str
    nbytes: int

    def new_token(self) -> str:
        """A fresh random token for one player start (``2 * nbytes`` hex digits)."""
        return secrets.token_hex(self.nbytes)

    def token_from_env(self, environ: Mapping[str, str] | None = None) -> str | None:
        """The token in ``env_var`` of ``environ`` (default ``os.environ``); None when unset or empty."""
        value = (os.environ if environ is None else environ).get(self.env_var, "").strip()
        return value or None


def tokens_match(offered: str | bytes, expected: str) -> bool:
    """Whether ``offered`` is ``expected``, compared in constant time (as UTF-8; never equal when not UTF-8)."""
    raw = offered if isinstance(offered, bytes) else offered.encode("utf-8", "surrogatepass")
    return hmac.compare_digest(raw, expected.encode("utf-8"))
