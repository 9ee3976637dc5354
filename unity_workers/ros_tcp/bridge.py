"""`RosTcpBridge`: ray-lab's pure-Python stand-in for the ``ros_tcp_endpoint`` server.

Unity (ROS-TCP-Connector) connects as a TCP client. The bridge confirms the connection with a
keepalive (8 zero bytes), sends the ``__handshake``, records Unity's registrations, keeps the
latest messages per topic Unity publishes (bounded: :mod:`.topics`), calls the services Unity
implements (``__request``/``__response``, ids from 1001, with timeouts), publishes to topics Unity
subscribed to and forwards Unity's ``__log``/``__warn``/``__error`` to Python logging. One client
is served at a time (a new connection replaces the old). Given a per-launch ``token``, a new
connection must prove it first (:mod:`.admission`): until then it is not served and the current client
is kept, and one without the right token is refused. A client that sends malformed frames, oversized
lengths, unknown types or bad JSON is dropped with a logged error, and calls pending on a dropped
connection fail at once with ``ConnectionError``. Network data is only parsed as frames, JSON, CDR.
"""

from __future__ import annotations

from .service_calls import ServiceCalls
from .topic_traffic import TopicTraffic

__all__ = ["RosTcpBridge"]


class RosTcpBridge(ServiceCalls, TopicTraffic):
    """TCP server speaking the ROS-TCP protocol to one Unity client at a time (sync, thread-based API).

    The parts: :class:`~unity_workers.ros_tcp.server.BridgeServer` (connection, handshake, registrations),
    :class:`~unity_workers.ros_tcp.service_calls.ServiceCalls` and
    :class:`~unity_workers.ros_tcp.topic_traffic.TopicTraffic`.
    """
