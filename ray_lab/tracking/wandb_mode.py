"""Which W&B mode a run uses: `WANDB_MODE` wins, `auto` means online only with an API key.

Everything here is local (environment variables and the netrc file); nothing touches the network.
"""

from __future__ import annotations

import netrc
import os
from pathlib import Path
from typing import Literal, get_args
from urllib.parse import urlsplit

ConfigMode = Literal["auto", "online", "offline", "disabled"]
RunMode = Literal["online", "offline", "disabled"]

LEGACY_HOST = "api.wandb.ai"
# What `WANDB_MODE` may say (wandb accepts the old names too) → the mode it means.
_ENV_MODES: dict[str, RunMode] = {
    "online": "online",
    "run": "online",
    "shared": "online",
    "offline": "offline",
    "dryrun": "offline",
    "disabled": "disabled",
}


def _base_url() -> str:
    """The W&B server: `WANDB_BASE_URL`, else the installed wandb's default."""
    if url := os.environ.get("WANDB_BASE_URL", "").strip():
        return url
    try:
        from wandb.sdk.lib.urls import DEFAULT_BASE_URL
    except ImportError:
        return f"https://{LEGACY_HOST}"
    return str(DEFAULT_BASE_URL)


def _netrc_path() -> Path:
    if path := os.environ.get("NETRC"):
        return Path(path).expanduser()
    return Path("~/.netrc").expanduser()


def _netrc_has_key(hosts: list[str]) -> bool:
    """Our own netrc lookup, used when wandb's internal reader is not available."""
    try:
        entries = netrc.netrc(str(_netrc_path()))
    except (OSError, netrc.NetrcParseError):
        return False
    for host in hosts:
        creds = entries.authenticators(host)
        if creds and creds[2]:
            return True
    return False


def api_key_configured() -> bool:
    """True when wandb would find credentials: `WANDB_API_KEY`, an identity token file, or netrc.

    The netrc lookup uses wandb's own reader when this wandb version has it (it knows the
    default server and its aliases) and falls back to reading the netrc file for the server in
    `WANDB_BASE_URL` and `api.wandb.ai`. The key is never returned or printed.
    """
    if os.environ.get("WANDB_API_KEY", "").strip() or os.environ.get("WANDB_IDENTITY_TOKEN_FILE", "").strip():
        return True
    base_url = _base_url()
    try:
        from wandb.sdk.lib.wbauth import read_netrc_auth

        return read_netrc_auth(host=base_url) is not None
    except ImportError:
        pass
    except Exception:  # wandb found an entry but rejects its format: treat as no usable key
        return False
    hosts = [h for h in (urlsplit(base_url).netloc, LEGACY_HOST) if h]
    return _netrc_has_key(hosts)


def resolve_mode(mode: str) -> tuple[RunMode, str]:
    """The mode to start wandb in, and why (for the log line).

    `WANDB_MODE` (when set) overrides `mode`; `WANDB_DISABLED=true` disables. `auto` is online
    when `api_key_configured()`, else offline.

    Raises:
        ValueError: `mode` or `WANDB_MODE` is not a known mode.
    """
    env_mode = os.environ.get("WANDB_MODE", "").strip().lower()
    if env_mode:
        if env_mode not in _ENV_MODES:
            raise ValueError(f"WANDB_MODE={env_mode!r} is not one of {sorted(_ENV_MODES)}")
        return _ENV_MODES[env_mode], f"WANDB_MODE={env_mode}"
    if os.environ.get("WANDB_DISABLED", "").strip().lower() in ("1", "true", "yes"):
        return "disabled", "WANDB_DISABLED is set"
    if mode == "auto":
        if api_key_configured():
            return "online", "an API key is configured"
        return "offline", "no API key is configured (WANDB_API_KEY or `wandb login`)"
    for run_mode in get_args(RunMode):
        if mode == run_mode:
            return run_mode, f"tracking.mode={mode}"
    raise ValueError(f"W&B mode {mode!r} is not one of {list(get_args(ConfigMode))}")
