"""Keep ROS 2 (Fast DDS) traffic on this machine: the shipped profile and the environment that selects it."""

from __future__ import annotations

from pathlib import Path

__all__ = ["FASTDDS_LOCALHOST_PROFILE", "loopback_dds_env"]

FASTDDS_LOCALHOST_PROFILE = Path(__file__).resolve().parent / "fastdds_localhost.xml"
"""Fast DDS profile: UDPv4 on 127.0.0.1 only (interface allowlist), unicast discovery to 127.0.0.1."""


def loopback_dds_env(domain_id: int | None = None, *, strict: bool = False) -> dict[str, str]:
    """Environment variables that keep ROS 2 discovery and data on loopback.

    Set them (``os.environ.update(...)``) before the first ROS 2 context of the process is created:
    Fast DDS reads its profile file once per process, rcl reads the discovery range at each init.
    ``FASTRTPS_DEFAULT_PROFILES_FILE`` is the name Fast DDS 2.x (ROS 2 Jazzy) reads,
    ``FASTDDS_DEFAULT_PROFILES_FILE`` the one of Fast DDS 3.x.

    By default ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` comes with the profile: discovery stays on
    this host even where the profile is not read (another RMW, a broken path), but rmw_fastrtps then
    adds shared memory and a UDP transport bound on every interface. ``strict=True`` selects
    ``SYSTEM_DEFAULT`` and ``RMW_IMPLEMENTATION=rmw_fastrtps_cpp`` instead, so that the profile alone
    is in charge: every socket on 127.0.0.1, no shared memory.

    Raises:
        ValueError: ``domain_id`` is outside 0..232 (the range Fast DDS maps to UDP ports).
        FileNotFoundError: the profile is missing from the installed package.
    """
    if not FASTDDS_LOCALHOST_PROFILE.is_file():
        raise FileNotFoundError(f"the Fast DDS loopback profile {str(FASTDDS_LOCALHOST_PROFILE)!r} is missing")
    env = {
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "SYSTEM_DEFAULT" if strict else "LOCALHOST",
        "FASTRTPS_DEFAULT_PROFILES_FILE": str(FASTDDS_LOCALHOST_PROFILE),
        "FASTDDS_DEFAULT_PROFILES_FILE": str(FASTDDS_LOCALHOST_PROFILE),
    }
    if strict:
        env["RMW_IMPLEMENTATION"] = "rmw_fastrtps_cpp"
    if domain_id is not None:
        if isinstance(domain_id, bool) or not isinstance(domain_id, int) or not 0 <= domain_id <= 232:
            raise ValueError(f"domain_id must be an int in 0..232, got {domain_id!r}")
        env["ROS_DOMAIN_ID"] = str(domain_id)
    return env
