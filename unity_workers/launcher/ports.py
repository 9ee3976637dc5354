"""`free_port`: pick a free TCP port, for the rare case where a server cannot bind port 0 itself.

Preferred (race-free): let the bridge bind port 0 and pass the number it got to the player::

    bridge = RosTcpBridge(port=0).start()
    process.start(bridge.port)

:func:`free_port` binds port 0, reads the number and closes the socket again, so another process
may take the port before the caller binds it. Use it only when the listening side cannot be handed
port 0 (e.g. an external ``ros_tcp_endpoint`` that needs its port on the command line).
"""

from __future__ import annotations

import socket

__all__ = ["free_port"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that was free a moment ago (racy: prefer binding port 0 in the server)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
