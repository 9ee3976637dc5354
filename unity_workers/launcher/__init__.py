"""Launching headless Unity players for env workers.

Modules: :mod:`.options` (:class:`PlayerOptions`), :mod:`.command` (:func:`player_command`),
:mod:`.checks` (pre-launch checks raising :class:`LaunchConfigError`), :mod:`.process`
(:class:`UnityProcess`, :class:`PlayerDiedError`), :mod:`.environ` (:func:`player_environment`:
the player's environment without credentials) and :mod:`.ports` (:func:`free_port`).

The bridge binds port 0 and the player is given the port it got, so concurrent trainings on one
machine never collide.
"""

from .checks import LaunchConfigError, check_build, check_log_dir, check_options
from .command import player_command
from .environ import is_credential, player_environment
from .options import PlayerOptions
from .ports import free_port
from .process import PlayerDiedError, UnityProcess

__all__ = [
    "LaunchConfigError",
    "PlayerDiedError",
    "PlayerOptions",
    "UnityProcess",
    "check_build",
    "check_log_dir",
    "check_options",
    "free_port",
    "is_credential",
    "player_command",
    "player_environment",
]
