"""`PlayerOptions`: how to launch one headless Unity player (or a stand-in) for one env worker."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

__all__ = ["PlayerOptions"]


@dataclass(frozen=True, kw_only=True)
class PlayerOptions:
    """Launch settings of one Unity player process, owned by env worker ``worker_index``.

    Exactly one of ``build`` (a Linux ``.x86_64`` player or any executable file) and ``command``
    (an argv prefix such as ``[sys.executable, "-m", "my_sim"]``, stored as a tuple, for Python
    stand-in simulators and tests) must be given. The ROS-TCP port is not an option: the bridge binds port 0 first and
    the launcher is handed the port it got (see :func:`unity_workers.launcher.command.player_command`).

    The timing options (``time_scale``, ``sample_time``, ``fixed_delta_time``,
    ``fixed_updates_per_step``, ``pause``) are passed to the player only when set.
    ``agents`` > 1 passes ``--agents N``: the player serves N agents through the batch services.
    ``graphics=True`` drops ``-nographics`` (needed when camera observations must render);
    ``batchmode=False`` opens a window (for watching with ``ray-lab play``).

    The player inherits this process's environment without credentials (see
    :func:`unity_workers.launcher.environ.is_credential`) except those named in ``env_passthrough``;
    ``env`` is added to it. ``start_index`` counts the starts of this player (0: the first, n: the
    n-th restart) and names its log files, so a restart never overwrites the log of a crash.
    """

    build: Path | None = None
    command: Sequence[str] | None = None
    log_dir: Path
    worker_index: int
    ros_ip: str = "127.0.0.1"
    environment_id: int = 0
    time_scale: float | None = None
    sample_time: float | None = None
    fixed_delta_time: float | None = None
    fixed_updates_per_step: int | None = None
    pause: bool = False
    agents: int = 1
    graphics: bool = False
    batchmode: bool = True
    extra_args: tuple[str, ...] = ()
    connect_timeout_s: float = 60.0
    env: dict[str, str] = field(default_factory=dict)
    env_passthrough: tuple[str, ...] = ()
    log_stem: str | None = None  # file name of the logs without suffix; default ``worker_<k>``
    start_index: int = 0

    def __post_init__(self) -> None:
        if (self.build is None) == (self.command is None):
            raise ValueError(
                f"give exactly one of build= (a player executable) and command= (an argv prefix); "
                f"got build={self.build!r}, command={self.command!r}"
            )
        if self.build is not None:
            object.__setattr__(self, "build", Path(self.build))
        if self.command is not None:
            command = tuple(str(part) for part in self.command)
            if not command:
                raise ValueError("command= must not be empty; e.g. command=[sys.executable, '-m', 'my_sim']")
            object.__setattr__(self, "command", command)
        object.__setattr__(self, "log_dir", Path(self.log_dir))
        object.__setattr__(self, "extra_args", tuple(str(arg) for arg in self.extra_args))
        object.__setattr__(self, "env_passthrough", tuple(self.env_passthrough))
        bad_names = [name for name in self.env_passthrough if not isinstance(name, str) or not name or "=" in name]
        if bad_names:
            raise ValueError(f"env_passthrough must hold variable names (no '='), got {bad_names!r}")
        if self.start_index < 0:
            raise ValueError(f"start_index must be >= 0, got {self.start_index}")
        if self.worker_index < 0:
            raise ValueError(f"worker_index must be >= 0, got {self.worker_index}")
        if self.log_stem is not None and (not self.log_stem or "/" in self.log_stem or self.log_stem[0] == "."):
            raise ValueError(f"log_stem must be a plain file name, got {self.log_stem!r}")
        if self.environment_id < 0:
            raise ValueError(f"environment_id must be >= 0, got {self.environment_id}")
        for name in ("time_scale", "sample_time", "fixed_delta_time"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0 when set, got {value!r}")
        if isinstance(self.agents, bool) or not isinstance(self.agents, int) or self.agents < 1:
            raise ValueError(f"agents must be an integer >= 1, got {self.agents!r}")
        if self.fixed_updates_per_step is not None and self.fixed_updates_per_step < 1:
            raise ValueError(f"fixed_updates_per_step must be >= 1 when set, got {self.fixed_updates_per_step}")
        if not (math.isfinite(self.connect_timeout_s) and self.connect_timeout_s > 0):
            raise ValueError(f"connect_timeout_s must be a finite number > 0, got {self.connect_timeout_s!r}")

    @property
    def stem(self) -> str:
        """The log file name of this start without suffix.

        ``log_stem`` (default ``worker_<k>``) for the first start, ``<log_stem>.restart-<n>`` for the n-th restart.
        """
        base = self.log_stem or f"worker_{self.worker_index}"
        return base if self.start_index == 0 else f"{base}.restart-{self.start_index}"

    @property
    def log_path(self) -> Path:
        """The player log (``-logFile``): ``<log_dir>/worker_<k>.log``, ``worker_<k>.restart-<n>.log``."""
        return self.log_dir / f"{self.stem}.log"

    @property
    def output_path(self) -> Path:
        """Where the player's stdout and stderr go: ``<log_dir>/worker_<k>.out``, ``worker_<k>.restart-<n>.out``."""
        return self.log_dir / f"{self.stem}.out"

    def for_start(self, start_index: int) -> PlayerOptions:
        """These options for start ``start_index`` of the player (0: the first start, n: the n-th restart)."""
        return replace(self, start_index=start_index)
