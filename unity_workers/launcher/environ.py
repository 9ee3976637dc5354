"""`player_environment`: what a player inherits, the parent's environment minus its credentials."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

__all__ = ["is_credential", "player_environment"]

# Substrings of an upper-cased name that mark a secret wherever they occur.
_SECRET_PARTS = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|API_?KEY|ACCESS_KEY|PRIVATE_KEY|CONNECTION_STRING")
# Names that give access to credentials without holding one.
_SECRET_NAMES = frozenset({"SSH_AUTH_SOCK", "KRB5CCNAME"})
# Harmless names that a pattern above would catch.
_HARMLESS_NAMES = frozenset({"TOKENIZERS_PARALLELISM"})


def is_credential(name: str) -> bool:
    """Whether the environment variable ``name`` holds (or opens) a credential; case-insensitive.

    Credentials are names that contain ``TOKEN``, ``SECRET``, ``PASSWORD``, ``PASSWD``,
    ``CREDENTIAL`` (so ``*CREDENTIALS*``), ``API_KEY`` / ``APIKEY``, ``ACCESS_KEY``,
    ``PRIVATE_KEY`` or ``CONNECTION_STRING``; names that end in ``_KEY`` or ``_KEYS``; and
    ``SSH_AUTH_SOCK`` and ``KRB5CCNAME``. That covers ``RAY_AUTH_TOKEN``, ``WANDB_API_KEY``,
    ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``,
    ``GOOGLE_APPLICATION_CREDENTIALS``, ``AZURE_CLIENT_SECRET``, ``AZURE_STORAGE_KEY``,
    ``AZURE_STORAGE_CONNECTION_STRING``, ``HF_TOKEN`` and ``GITHUB_TOKEN``. ``PATH``, ``HOME``,
    ``DISPLAY``, ``XAUTHORITY``, ``LD_LIBRARY_PATH``, ``ROS_*``, ``RMW_*``, the locale and
    ``TOKENIZERS_PARALLELISM`` are not credentials.
    """
    upper = name.upper()
    if upper in _HARMLESS_NAMES:
        return False
    if upper in _SECRET_NAMES or upper.endswith(("_KEY", "_KEYS")):
        return True
    return _SECRET_PARTS.search(upper) is not None


def player_environment(
    parent: Mapping[str, str], passthrough: Iterable[str] = (), extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of a player: ``parent`` without credentials (:func:`is_credential`), plus ``extra``.

    Names in ``passthrough`` are kept even when they are credentials (``environment.unity.env_passthrough``);
    ``extra`` (the launcher's own ``PlayerOptions.env``) is added last, as given.
    """
    keep = set(passthrough)
    env = {name: value for name, value in parent.items() if name in keep or not is_credential(name)}
    env.update(extra or {})
    return env
