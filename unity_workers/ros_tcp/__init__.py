"""ROS-TCP bridge for Unity workers: ray-lab's pure-Python stand-in for ``ros_tcp_endpoint``.

Modules: :mod:`.framing` (wire frames, system commands), :mod:`.messages` (ROS 2 types and CDR via
rosbags), :mod:`.bridge` (:class:`RosTcpBridge`, the server: its connection side in :mod:`.server`,
its calls in :mod:`.service_calls`, its topics in :mod:`.topic_traffic`) and :mod:`.client`
(:class:`UnityLikeClient`, the Unity side in Python).
"""

from .bridge import RosTcpBridge
from .client import UnityLikeClient
from .framing import Frame, FrameReader, ProtocolError, decode_syscommand, encode_frame, encode_syscommand
from .messages import MessageTypes, UnknownMessageType
from .state import PendingCall

__all__ = [
    "Frame",
    "FrameReader",
    "MessageTypes",
    "PendingCall",
    "ProtocolError",
    "RosTcpBridge",
    "UnityLikeClient",
    "UnknownMessageType",
    "decode_syscommand",
    "encode_frame",
    "encode_syscommand",
]
