"""Keep credentials out of logged configs: redact values under secret-looking keys, and URL passwords.

A key is split into words (`is_secret_key`), so `max_tokens` and `tokenizer` stay visible while
`hf_token`, `authToken` and `AWS_SECRET_ACCESS_KEY` are hidden. A password inside a URL
(`https://user:pw@host/`, `redis://:pw@host:6379`) is replaced in place, the rest of the URL kept.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from itertools import pairwise
from typing import Any

__all__ = [
    "REDACTED",
    "SECRET_ENV_VARS",
    "is_secret_key",
    "key_words",
    "scrub_secrets",
    "scrub_url_passwords",
]

REDACTED = "<redacted>"
SECRET_ENV_VARS = ("WANDB_API_KEY",)

SECRET_WORDS = frozenset(
    {"secret", "secrets", "password", "passwd", "pwd", "passphrase", "credential", "credentials", "creds"}
)
"""A key holding one of these words anywhere is secret: `client_secret`, `db_password`, `gcp_credentials`."""

KEY_QUALIFIERS = frozenset({"api", "access", "account", "auth", "encryption", "private", "secret", "signing", "ssh"})
"""`<qualifier> key` is secret (`api_key`, `access_key_id`, `private_key`); a bare `key` or `monkey` is not."""

JOINED_KEY_WORDS = frozenset({"apikey", "apikeys", "accesskey", "privatekey", "secretkey"})
"""All-caps or run-together spellings of the pairs above (`APIKEY`, `wandb_apikey`)."""

LAST_WORDS = frozenset({"token", "auth", "authorization"})
"""Secret when the key ends with it: `token`, `hf_token`, `RAY_AUTH_TOKEN`, `basic_auth`, but not
`max_tokens`, `num_tokens`, `tokens_per_step`, `token_budget`, `auth_mode` or `tokenizer`."""

TOKENIZER_TOKENS = frozenset({"pad", "eos", "bos", "unk", "mask", "cls", "sep"})
"""`pad_token`, `eos_token`, ...: a tokenizer's special tokens, not credentials."""

_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s/?#:]*:)(?P<password>[^\s/?#]+)(?=@)")


def key_words(key: str) -> list[str]:
    """`key` as lower-case words, split on any non-alphanumeric and at camelCase humps; digits dropped.

    `AWS_SECRET_ACCESS_KEY` -> aws secret access key; `authToken` -> auth token; `HFToken` -> hf token;
    `api-key.v2` -> api key v.
    """
    return [word.lower() for word in _WORD.findall(key) if not word.isdigit()]


def _has_qualified_key(words: Sequence[str]) -> bool:
    return any(second in ("key", "keys") and first in KEY_QUALIFIERS for first, second in pairwise(words))


def is_secret_key(key: object) -> bool:
    """True when the value under `key` is a credential, by the words of the key (see `key_words`).

    Secret: any word in `SECRET_WORDS` (`client_secret`, `passwd`, `credentials`); a qualified key
    (`api_key`, `apiKey`, `access_key`, `private_key`, `APIKEY`); or a key ending in `token`, `auth` or
    `authorization` (`hf_token`, `authToken`, `auth`). Not secret: `max_tokens`, `num_tokens`,
    `token_budget`, `tokenizer`, `keyboard`, `monkey`, `secretary` (a different word), `pad_token`.
    """
    if not isinstance(key, str):
        return False
    words = key_words(key)
    if not words:
        return False
    if any(word in SECRET_WORDS or word in JOINED_KEY_WORDS for word in words) or _has_qualified_key(words):
        return True
    if words[-1] not in LAST_WORDS:
        return False
    return not (len(words) >= 2 and words[-1] == "token" and words[-2] in TOKENIZER_TOKENS)


def scrub_url_passwords(text: str) -> str:
    """`text` with the password of every `scheme://user:password@host` URL replaced by `<redacted>`."""
    return _URL_PASSWORD.sub(lambda match: match["head"] + REDACTED, text)


def _known_secrets(extra: Iterable[str]) -> list[str]:
    values = [os.environ.get(name, "") for name in SECRET_ENV_VARS]
    return [value for value in [*values, *extra] if len(value) >= 8]


def _scrub(value: Any, known: list[str]) -> Any:
    if isinstance(value, Mapping):
        return {k: (REDACTED if is_secret_key(k) else _scrub(v, known)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(item, known) for item in value]
    if isinstance(value, str):
        return REDACTED if any(secret in value for secret in known) else scrub_url_passwords(value)
    return value


def scrub_secrets(config: Mapping[str, Any], extra_secrets: Iterable[str] = ()) -> dict[str, Any]:
    """A copy of `config` with secrets redacted, recursively through mappings and lists.

    - Values under secret keys (`is_secret_key`) become `"<redacted>"`, whatever their type.
    - A string containing the value of `WANDB_API_KEY` or one of `extra_secrets` becomes `"<redacted>"`
      (values shorter than 8 characters are not matched).
    - In any other string, URL passwords become `<redacted>`: `https://user:<redacted>@host/path`.

    The input is not modified.
    """
    scrubbed: dict[str, Any] = _scrub(config, _known_secrets(extra_secrets))
    return scrubbed
