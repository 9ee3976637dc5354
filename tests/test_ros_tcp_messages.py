"""ROS 2 message registry: CDR bytes, interface folders with .msg/.srv, name mapping, dict building."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from unity_workers.ros_tcp.messages import MessageTypes, UnknownMessageType

STEP_SRV = "float32[] action\n---\nfloat32[] state\nfloat32 reward\nbool terminated\n"


def make_interfaces(root: Path) -> Path:
    """A ROS-like interfaces folder: interfaces_pkg/{msg,srv} with a service that uses a package msg."""
    (root / "interfaces_pkg" / "srv").mkdir(parents=True)
    (root / "interfaces_pkg" / "msg").mkdir(parents=True)
    (root / "interfaces_pkg" / "srv" / "EnvironmentStep.srv").write_text(STEP_SRV)
    (root / "interfaces_pkg" / "srv" / "EnvironmentReset.srv").write_text("# comment\n---\nAgentState state\n")
    (root / "interfaces_pkg" / "msg" / "AgentState.msg").write_text(
        "std_msgs/Header header\ngeometry_msgs/Point position\nfloat32[] ranges\nfloat32 health\n"
    )
    return root


def test_string_hello_cdr_matches_ros2() -> None:
    types = MessageTypes()
    data = types.serialize(types.build("std_msgs/String", {"data": "hello"}))
    assert data == bytes.fromhex("00010000") + (6).to_bytes(4, "little") + b"hello\x00"
    assert types.deserialize(data, "std_msgs/msg/String").data == "hello"


def test_service_folder_loading_and_round_trip(tmp_path: Path) -> None:
    types = MessageTypes(make_interfaces(tmp_path))
    assert types.resolve_service("interfaces_pkg/EnvironmentStep") == (
        "interfaces_pkg/srv/EnvironmentStep_Request",
        "interfaces_pkg/srv/EnvironmentStep_Response",
    )
    assert (
        types.resolve_service("interfaces_pkg/srv/EnvironmentReset")[1]
        == "interfaces_pkg/srv/EnvironmentReset_Response"
    )
    assert types.resolve("interfaces_pkg/AgentState") == "interfaces_pkg/msg/AgentState"

    resp = types.build(
        "interfaces_pkg/srv/EnvironmentStep_Response", {"state": [1.5, -2.0], "reward": 0.25, "terminated": True}
    )
    back = types.deserialize(types.serialize(resp), "interfaces_pkg/srv/EnvironmentStep_Response")
    assert back.state.dtype == np.float32 and back.state.tolist() == [1.5, -2.0]
    assert back.reward == pytest.approx(0.25) and back.terminated is True

    reset = types.build(
        "interfaces_pkg/srv/EnvironmentReset_Response",
        {"state": {"position": {"x": 1.0}, "ranges": [3.0], "header": {"frame_id": "map"}}},
    )
    as_dict = types.to_dict(types.deserialize(types.serialize(reset), "interfaces_pkg/srv/EnvironmentReset_Response"))
    assert as_dict["state"]["position"] == {"x": 1.0, "y": 0.0, "z": 0.0}
    assert as_dict["state"]["header"]["frame_id"] == "map" and as_dict["state"]["ranges"] == [3.0]

    # An empty request half gets ROS 2's one-byte placeholder member.
    empty = types.serialize(types.build("interfaces_pkg/srv/EnvironmentReset_Request"))
    assert empty == bytes.fromhex("0001000000")


def test_unknown_types_list_near_misses(tmp_path: Path) -> None:
    types = MessageTypes(make_interfaces(tmp_path))
    with pytest.raises(UnknownMessageType, match=r"std_msgs/Strng.*std_msgs/msg/String"):
        types.resolve("std_msgs/Strng")
    with pytest.raises(UnknownMessageType, match=r"interfaces_pkg/EnvStep.*interfaces_pkg/srv/EnvironmentStep"):
        types.resolve_service("interfaces_pkg/EnvStep")
    assert "sensor_msgs/LaserScan" in types and "nope/Nope" not in types


def test_build_rejects_unknown_fields_and_bad_cdr() -> None:
    types = MessageTypes()
    with pytest.raises(ValueError, match=r"no field\(s\) \['dta'\]"):
        types.build("std_msgs/String", {"dta": "x"})
    with pytest.raises(ValueError, match="fixed array of 9"):
        types.build("sensor_msgs/Imu", {"orientation_covariance": [0.0] * 3})
    with pytest.raises(ValueError, match="std_msgs/msg/String"):
        types.deserialize(b"\x00\x01\x00\x00\xff\xff\xff\x7f", "std_msgs/String")
    with pytest.raises(ValueError, match="not CDR"):
        types.deserialize(b"\x07", "std_msgs/String")


def test_bad_interface_files_raise_with_path(tmp_path: Path) -> None:
    (tmp_path / "pkg" / "srv").mkdir(parents=True)
    (tmp_path / "pkg" / "srv" / "Broken.srv").write_text("float32 a\n")
    with pytest.raises(ValueError, match=r"Broken\.srv.*found 0"):
        MessageTypes(tmp_path)
    with pytest.raises(FileNotFoundError, match="missing"):
        MessageTypes(tmp_path / "missing")
