"""Showing a resolved config: highlighted YAML on a terminal, plain YAML in logs."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any, TextIO

import yaml
from rich.console import Console
from rich.panel import Panel
from rich.syntax import Syntax
from rich.text import Text

from ray_lab.tracking.redact import scrub_secrets


def _plain_data(value: Any) -> Any:
    """`value` with only YAML-safe types: mappings, lists, str, numbers, bools, None (others → str)."""
    if isinstance(value, Mapping):
        return {str(k): _plain_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain_data(item) for item in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)  # paths, enums, ...


def config_yaml_text(config_dict: Mapping[str, Any]) -> str:
    """`config_dict` as block-style YAML in its own key order, with secret-looking values redacted."""
    text: str = yaml.safe_dump(
        _plain_data(scrub_secrets(config_dict)),
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
    )
    return text


def print_config(config_dict: Mapping[str, Any], title: str, *, stream: TextIO | None = None) -> None:
    """Print the resolved config as YAML under `title`.

    On a terminal: highlighted, in a panel. Otherwise (logs, CI): the title line and plain YAML.
    """
    out = stream if stream is not None else sys.stdout
    text = config_yaml_text(config_dict)
    console = Console(file=out)
    if not console.is_terminal:
        out.write(f"{title}\n{text}")
        out.flush()
        return
    syntax = Syntax(text.rstrip("\n"), "yaml", theme="ansi_dark", background_color="default", word_wrap=True)
    console.print(Panel(syntax, title=Text(title, style="bold"), title_align="left", expand=False))
