"""Training progress on the console: a live rich bar on a terminal, plain periodic lines elsewhere."""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn
from rich.table import Table
from rich.text import Text

DEFAULT_PLAIN_INTERVAL_S = 10.0
RATE_WINDOW_S = 30.0


def format_duration(seconds: float | None) -> str:
    """`3725.0` → `1:02:05`; None or a negative/non-finite value → `-`."""
    if seconds is None or not seconds >= 0 or seconds == float("inf"):
        return "-"
    whole = int(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def format_return(value: float | None) -> str:
    """A return with two decimals, or `-` when unknown."""
    return "-" if value is None else f"{value:.2f}"


class TrainingProgress:
    """Shows timesteps/total, steps/s, the latest train and eval return, elapsed time and ETA.

    Use as a context manager and call `update` as often as you like. On a terminal it is a live
    rich progress bar; otherwise (CI, `ray job` logs, redirected output) it prints one plain line
    at most every `plain_interval_s` seconds, plus a final line on exit.
    """

    def __init__(
        self,
        total_timesteps: int,
        *,
        description: str = "training",
        plain_interval_s: float = DEFAULT_PLAIN_INTERVAL_S,
        stream: TextIO | None = None,
        plain: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`plain`: force plain lines (True) or the live bar (False); None decides by `stream` being a TTY."""
        if total_timesteps < 1:
            raise ValueError(f"total_timesteps must be at least 1, got {total_timesteps}")
        if plain_interval_s < 0:
            raise ValueError(f"plain_interval_s must be >= 0, got {plain_interval_s}")
        self.total = int(total_timesteps)
        self.description = description
        self.interval = float(plain_interval_s)
        self.stream = stream if stream is not None else sys.stdout
        self.console = Console(file=self.stream)
        self.plain = (not self.console.is_terminal) if plain is None else plain
        self._clock = clock
        self._start = clock()
        self._samples: deque[tuple[float, int]] = deque()
        self.timesteps = 0
        self.train_return: float | None = None
        self.eval_return: float | None = None
        self._last_print: float | None = None
        self._unprinted = False
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    # -- numbers ---------------------------------------------------------------------------
    @property
    def elapsed_s(self) -> float:
        """Seconds since the display started."""
        return self._clock() - self._start

    @property
    def steps_per_s(self) -> float | None:
        """Timesteps per second over the last `RATE_WINDOW_S` seconds (None until measurable)."""
        if len(self._samples) < 2:
            return None
        (t0, s0), (t1, s1) = self._samples[0], self._samples[-1]
        return (s1 - s0) / (t1 - t0) if t1 > t0 else None

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the current rate (None while the rate is unknown or zero)."""
        rate = self.steps_per_s
        if not rate or rate <= 0:
            return None
        return max(0, self.total - self.timesteps) / rate

    def rate_text(self) -> str:
        """Steps/s as shown: `starting` before the first step, `- steps/s` until measurable."""
        if self.timesteps == 0:
            return "starting"
        rate = self.steps_per_s
        return ("-" if rate is None else f"{rate:,.0f}") + " steps/s"

    def line(self) -> str:
        """The plain progress line for the current state."""
        percent = 100.0 * min(self.timesteps, self.total) / self.total
        return (
            f"[{self.description}] {self.timesteps:,}/{self.total:,} timesteps ({percent:.1f}%)"
            f" | {self.rate_text()}"
            f" | train return {format_return(self.train_return)}"
            f" | eval return {format_return(self.eval_return)}"
            f" | elapsed {format_duration(self.elapsed_s)} | ETA {format_duration(self.eta_s)}"
        )

    # -- display ---------------------------------------------------------------------------
    def __enter__(self) -> TrainingProgress:
        self._start = self._clock()
        if not self.plain:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.completed:,.0f}/{task.total:,.0f}"),
                TextColumn("{task.fields[rate]}"),
                TextColumn("train {task.fields[train]}  eval {task.fields[eval]}"),
                TextColumn("{task.fields[elapsed]} ETA {task.fields[eta]}"),
                console=self.console,
                refresh_per_second=4,
            )
            self._progress.start()
            self._task = self._progress.add_task(self.description, total=self.total, **self._fields())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the live bar, or print the last plain line when it was not printed yet."""
        if self._progress is not None:
            self._refresh_bar()
            self._progress.stop()
            self._progress = None
        elif self.plain and self._unprinted:
            self._print_line()

    def update(self, timesteps: int, train_return: float | None = None, eval_return: float | None = None) -> None:
        """Record the latest numbers; a None return keeps the last known value."""
        now = self._clock()
        self.timesteps = int(timesteps)
        if train_return is not None:
            self.train_return = float(train_return)
        if eval_return is not None:
            self.eval_return = float(eval_return)
        if self.timesteps == 0:  # still starting: the rate counts from the first steps, not from launch
            self._samples.clear()
        self._samples.append((now, self.timesteps))
        while len(self._samples) > 2 and now - self._samples[1][0] >= RATE_WINDOW_S:
            self._samples.popleft()
        if self._progress is not None:
            self._refresh_bar()
        elif self.plain:
            self._unprinted = True
            if self._last_print is None or now - self._last_print >= self.interval:
                self._print_line()

    def _fields(self) -> dict[str, Any]:
        """The task fields the bar's text columns show (rich takes them as `**fields: Any`)."""
        return {
            "rate": self.rate_text(),
            "train": format_return(self.train_return),
            "eval": format_return(self.eval_return),
            "elapsed": format_duration(self.elapsed_s),
            "eta": format_duration(self.eta_s),
        }

    def _refresh_bar(self) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=min(self.timesteps, self.total), **self._fields())

    def _print_line(self) -> None:
        self._last_print = self._clock()
        self._unprinted = False
        print(self.line(), file=self.stream, flush=True)


def print_summary(rows: Sequence[tuple[str, str]], title: str, *, stream: TextIO | None = None) -> None:
    """Print `rows` (label, value) as a two-column rich table under `title`.

    Off a terminal the table is as wide as its content, so long values such as run folder paths
    stay on one line in logs.
    """
    out = stream if stream is not None else sys.stdout
    console = Console(file=out)
    if not console.is_terminal:
        label_width = max((len(label) for label, _ in rows), default=0)
        value_width = max((len(value) for _, value in rows), default=0)
        console = Console(file=out, width=max(80, len(title) + 4, label_width + value_width + 8))
    table = Table(title=Text(title, style="bold"), show_header=False, title_justify="left")
    table.add_column("item", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    for label, value in rows:
        table.add_row(Text(label), Text(value))  # Text: no markup parsing of paths or brackets
    console.print(table)
