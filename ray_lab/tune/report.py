"""Human-readable sweep reports: the `summary.md` ranking, the console table, and the best config as YAML."""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import yaml
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ray_lab.tracking.atomic import atomic_write_text
from ray_lab.tune.results import ConfigRanking, check_mode, plain


def format_number(value: float | None) -> str:
    """A metric value for tables: 2 decimals from 1 up, 4 significant digits below, `-` for None."""
    if value is None:
        return "-"
    return f"{value:.2f}" if abs(value) >= 1 else f"{value:.4g}"


def format_value(value: Any) -> str:
    """A swept value for tables: floats with 4 significant digits, lists as JSON."""
    value = plain(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)


def format_score(ranking: ConfigRanking) -> str:
    """`mean ± std` of a configuration, or `-` when no trial was scored."""
    if ranking.mean is None:
        return "-"
    if abs(ranking.mean) >= 1:  # the std in the mean's precision: `90.00 ± 0.00`
        return f"{ranking.mean:.2f} ± {ranking.std or 0.0:.2f}"
    return f"{ranking.mean:.4g} ± {ranking.std or 0.0:.4g}"


def _per_seed(ranking: ConfigRanking) -> str:
    parts = []
    for seed, value, status in zip(ranking.seeds, ranking.per_seed, ranking.statuses, strict=True):
        shown = format_number(value) if value is not None else status
        parts.append(shown if seed is None else f"{seed}: {shown}")
    return ", ".join(parts)


def _ranking_rows(rankings: Sequence[ConfigRanking], keys: Sequence[str]) -> list[list[str]]:
    """Table rows: rank, each swept key, mean ± std, per seed, finished/trials."""
    rows = []
    for rank, ranking in enumerate(rankings, start=1):
        values = [format_value(ranking.values[k]) if k in ranking.values else "-" for k in keys]
        counts = f"{ranking.n_finished}/{len(ranking.trial_ids)}"
        rows.append([str(rank), *values, format_score(ranking), _per_seed(ranking), counts])
    return rows


def _ranking_keys(rankings: Sequence[ConfigRanking]) -> list[str]:
    return list(dict.fromkeys(key for ranking in rankings for key in ranking.values))


def _score_name(rankings: Sequence[ConfigRanking]) -> str:
    return rankings[0].score if rankings else "last"


def write_summary_md(
    path: Path | str,
    rankings: Sequence[ConfigRanking],
    metric: str,
    mode: str,
    spec_name: str,
    extra_lines: Sequence[str] = (),
) -> None:
    """Write the ranking as a Markdown table (best first) under a header naming metric and mode; atomic."""
    check_mode(mode)
    keys = _ranking_keys(rankings)
    header = ["rank", *keys, f"{metric} (mean ± std)", "per seed", "finished/trials", "trials"]
    lines = [
        f"# Sweep `{spec_name}`",
        "",
        f"Configurations ranked by **{metric}** (mode: {mode}, {_score_name(rankings)} evaluation value "
        f"of each trial), mean ± std over seeds; {len(rankings)} configurations.",
        "",
        *extra_lines,
        *([""] if extra_lines else []),
        _md_row(header),
        _md_row(["---:", *(["---"] * (len(header) - 1))]),
        *(
            _md_row([*row, ", ".join(r.trial_ids)])
            for row, r in zip(_ranking_rows(rankings, keys), rankings, strict=True)
        ),
    ]
    atomic_write_text(path, "\n".join(lines) + "\n")


def _md_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def best_config_header(spec_name: str, metric: str, mode: str, best: ConfigRanking) -> str:
    """`best configuration of sweep <name>: <metric> mean ± std over seeds [..] (<mode>)`."""
    finished = [s for s, v in zip(best.seeds, best.per_seed, strict=True) if v is not None]
    over = f"over seeds {finished}" if any(s is not None for s in finished) else f"over {len(finished)} trial(s)"
    return (
        f"best configuration of sweep {spec_name}: {metric} {format_score(best)} {over} "
        f"({best.score} value per trial, mode {mode})"
    )


def best_config_yaml(base_config: Mapping[str, Any], best: ConfigRanking, header: str) -> str:
    """The base experiment config with the best configuration's dotted keys set, as YAML.

    Intermediate sections are created where missing, and a key part that meets a list indexes it
    (`environment.curriculum.lessons.0.until.threshold`, checked when the spec loaded); `header` lines
    become `# ` comments on top.
    The base mapping is not changed.

    Raises:
        ValueError: a dotted key runs through a value that is not a section.
    """
    data: dict[str, Any] = copy.deepcopy(dict(base_config))
    for dotted, value in best.values.items():
        parts = dotted.split(".")
        node: Any = data
        for i, part in enumerate(parts[:-1]):
            child = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
            if not isinstance(child, dict | list):
                raise ValueError(f"cannot set {dotted!r}: {'.'.join(parts[: i + 1])!r} is {child!r}, not a section")
            node = child
        node[int(parts[-1]) if isinstance(node, list) else parts[-1]] = plain(value)
    comments = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    return comments + yaml.safe_dump(data, sort_keys=False, default_flow_style=None)


def print_ranking(
    rankings: Sequence[ConfigRanking],
    metric: str,
    mode: str,
    stream: TextIO | None = None,
    top: int = 10,
) -> None:
    """Print the `top` configurations as a rich table (as wide as its content when not on a terminal)."""
    check_mode(mode)
    out = stream if stream is not None else sys.stdout
    keys = _ranking_keys(rankings)
    header = ["rank", *keys, f"{metric} ({mode})", "per seed", "finished/trials"]
    rows = _ranking_rows(rankings[:top], keys)
    title = (
        f"Top {min(top, len(rankings))} of {len(rankings)} configurations by {metric} ({mode}, {_score_name(rankings)})"
    )
    console = Console(file=out)
    if not console.is_terminal:
        widths = [max([len(h), *(len(row[i]) for row in rows)]) for i, h in enumerate(header)]
        console = Console(file=out, width=max(80, len(title) + 4, sum(widths) + 3 * len(widths) + 4))
    table = Table(title=Text(title, style="bold"), title_justify="left")
    for i, name in enumerate(header):
        table.add_column(Text(name), justify="right" if i == 0 else "left", overflow="fold")
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))  # Text: no markup parsing of values
    console.print(table)
