"""`player_command`: the argv that starts one Unity player for a given bridge port."""

from __future__ import annotations

from .options import PlayerOptions

__all__ = ["player_command"]


def _number(value: float) -> str:
    """Format a float for the command line (``0.02``, ``1.0``; never scientific for usual values)."""
    return repr(float(value))


def player_command(options: PlayerOptions, ros_port: int) -> list[str]:
    """The full argv for the player of ``options``, connecting to the bridge on ``ros_port``.

    ``[build, -batchmode, -nographics, -logFile options.log_path, --ros-ip IP, --ros-port PORT,
    --environment-id ID, (--time-scale X, --sample-time X, --fixed-delta-time X,
    --fixed-updates-per-step N, --pause when set), (--agents N when N > 1), *extra_args]``;
    ``-batchmode`` is left out when ``batchmode`` is off and ``-nographics`` when ``graphics`` is on
    (or ``batchmode`` is off).
    With ``options.command`` the argv starts with that prefix instead of the build path.
    """
    if not 0 < ros_port < 65536:
        raise ValueError(f"ros_port must be in 1..65535, got {ros_port}")
    if options.command is not None:
        argv = list(options.command)
    else:
        assert options.build is not None
        argv = [str(options.build)]
    if options.batchmode:
        argv.append("-batchmode")
        if not options.graphics:
            argv.append("-nographics")
    argv += ["-logFile", str(options.log_path)]
    argv += ["--ros-ip", options.ros_ip, "--ros-port", str(ros_port)]
    argv += ["--environment-id", str(options.environment_id)]
    if options.time_scale is not None:
        argv += ["--time-scale", _number(options.time_scale)]
    if options.sample_time is not None:
        argv += ["--sample-time", _number(options.sample_time)]
    if options.fixed_delta_time is not None:
        argv += ["--fixed-delta-time", _number(options.fixed_delta_time)]
    if options.fixed_updates_per_step is not None:
        argv += ["--fixed-updates-per-step", str(options.fixed_updates_per_step)]
    if options.pause:
        argv.append("--pause")
    if options.agents > 1:
        argv += ["--agents", str(options.agents)]
    argv += list(options.extra_args)
    return argv
