"""ROS-TCP framing: frame round trips, stream splitting, caps and system-command payloads."""

from __future__ import annotations

import struct

import pytest

from unity_workers.ros_tcp.framing import (
    KEEPALIVE_FRAME,
    Frame,
    FrameReader,
    ProtocolError,
    decode_syscommand,
    encode_frame,
    encode_syscommand,
)


def test_encode_frame_layout() -> None:
    assert encode_frame("/scan", b"\x01\x02") == struct.pack("<I", 5) + b"/scan" + struct.pack("<I", 2) + b"\x01\x02"
    assert KEEPALIVE_FRAME == b"\x00" * 8


def test_round_trip_whole_and_one_byte_at_a_time() -> None:
    frames = [Frame("/a", b"xyz"), Frame("", b""), Frame("__log", b'{"text":"hi"}\x00'), Frame("/é", bytes(300))]
    stream = b"".join(encode_frame(f.destination, f.payload) for f in frames)
    assert FrameReader().feed(stream) == frames
    reader, out = FrameReader(), []
    for i in range(len(stream)):
        out += reader.feed(stream[i : i + 1])
    assert out == frames
    assert reader.buffered == 0
    assert out[1].is_keepalive and out[2].is_syscommand and not out[0].is_syscommand


def test_trailing_nuls_in_destination_are_stripped() -> None:
    raw = struct.pack("<I", 7) + b"/topic\x00" + struct.pack("<I", 1) + b"z"
    assert FrameReader().feed(raw) == [Frame("/topic", b"z")]


def test_oversized_lengths_rejected_before_payload_arrives() -> None:
    huge = struct.pack("<I", 0xFFFFFFF0)
    with pytest.raises(ProtocolError, match="4294967280"):
        FrameReader().feed(huge)
    with pytest.raises(ProtocolError, match="exceeds the cap of 100 bytes"):
        FrameReader(max_payload_bytes=100).feed(struct.pack("<I", 2) + b"/x" + struct.pack("<I", 101))
    reader = FrameReader()
    with pytest.raises(ProtocolError):
        reader.feed(huge)
    with pytest.raises(ProtocolError, match="already failed"):
        reader.feed(b"")


def test_bad_utf8_destination_rejected() -> None:
    with pytest.raises(ProtocolError, match="UTF-8"):
        FrameReader().feed(struct.pack("<I", 2) + b"\xff\xfe" + struct.pack("<I", 0))


def test_syscommand_round_trip() -> None:
    frame = encode_syscommand("__subscribe", {"topic": "/cmd", "message_name": "geometry_msgs/Twist"})
    (decoded,) = FrameReader().feed(frame)
    assert decoded.destination == "__subscribe"
    assert decoded.payload.endswith(b"}\x00")
    assert decode_syscommand(decoded.payload) == {"topic": "/cmd", "message_name": "geometry_msgs/Twist"}
    assert decode_syscommand(b"") == {} and decode_syscommand(b"\x00") == {}
    with pytest.raises(ValueError, match="start with '__'"):
        encode_syscommand("subscribe", {})


@pytest.mark.parametrize("payload", [b"{not json\x00", b"[1, 2]\x00", b"\xff\xfe\x00", b'{"a": NaN}\x00'])
def test_bad_syscommand_payload_rejected(payload: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode_syscommand(payload)
