"""Keep credentials out of logged configs: redact values under secret-looking keys."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

REDACTED = "<redacted>"
SECRET_KEY = re.compile(r"api[_-]?key|token|secret|passw(or)?d", re.IGNORECASE)
SECRET_ENV_VARS = ("WANDB_API_KEY",)


def is_secret_key(key: object) -> bool:
    """True for keys like `api_key`, `WANDB_API_KEY`, `hf_token`, `client_secret`, `password`."""
    return isinstance(key, str) and SECRET_KEY.search(key) is not None


def _known_secrets(extra: Iterable[str]) -> list[str]:
    values = [os.environ.get(name, "") for name in SECRET_ENV_VARS]
    return [value for value in [*values, *extra] if len(value) >= 8]


def _scrub(value: Any, known: list[str]) -> Any:
    if isinstance(value, Mapping):
        return {k: (REDACTED if is_secret_key(k) else _scrub(v, known)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(item, known) for item in value]
    if isinstance(value, str) and any(secret in value for secret in known):
        return REDACTED
    return value


def scrub_secrets(config: Mapping[str, Any], extra_secrets: Iterable[str] = ()) -> dict[str, Any]:
    """A copy of `config` with secrets redacted, recursively through mappings and lists.

    Values under keys matching `*api_key*`, `*token*`, `*secret*`, `*password*` (any case) become
    `"<redacted>"`, and so does any string containing the value of `WANDB_API_KEY` or one of
    `extra_secrets` (values shorter than 8 characters are not matched). The input is not modified.
    """
    scrubbed: dict[str, Any] = _scrub(config, _known_secrets(extra_secrets))
    return scrubbed
