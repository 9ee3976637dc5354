"""`Ros2Forwarder`: puts one :class:`~unity_workers.ros_tcp.RosTcpBridge` on the ROS 2 graph.

Each forwarder is a ROS 2 node (``<namespace>/ros_tcp_bridge``) in an rclpy context of its own, spun
by an executor on a daemon thread, so several bridges in one process and other rclpy users do not
interfere. Topics Unity publishes are republished as ``<namespace>/<topic>``; ROS 2 messages on
``<namespace>/<topic>`` for topics Unity subscribed to are sent to Unity. CDR bytes pass through as
they are (raw publish/subscribe), never re-serialized. Only message types whose ROS 2 Python package
is installed are forwarded (``sensor_msgs``, ``std_msgs``, ``geometry_msgs`` come with the ``ros2``
extra); other topics are logged once and skipped. Services are not forwarded.

Where the process configures no discovery (neither ``ROS_AUTOMATIC_DISCOVERY_RANGE`` nor
``ROS_LOCALHOST_ONLY`` is set), the forwarder sets ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` for the
process before its first context: nodes on this machine see the workers, and nothing is multicast
onto the network. Set ``ROS_AUTOMATIC_DISCOVERY_RANGE=SUBNET`` to watch workers from other machines.
"""

from __future__ import annotations

import atexit
import functools
import importlib
import logging
import os
import threading
import weakref
from typing import Any

from unity_workers.ros_tcp import MessageTypes, RosTcpBridge
from unity_workers.ros_tcp.protocol import Registration, topic_key

from .availability import INSTALL_HINT, rclpy_available, require_rclpy
from .names import ros_name

__all__ = ["NODE_NAME", "Ros2Forwarder"]

logger = logging.getLogger("unity_workers.ros2")

NODE_NAME = "ros_tcp_bridge"
"""Name of each forwarder's node inside its namespace."""

_off_logged = threading.Event()
_live: weakref.WeakSet[Ros2Forwarder] = weakref.WeakSet()


@atexit.register
def _close_live_forwarders() -> None:
    """Close forgotten forwarders at exit: an executor thread still waiting in rcl can abort the interpreter."""
    for forwarder in list(_live):
        forwarder.close()


class Ros2Forwarder:
    """A ROS 2 node mirroring one bridge's topics; create it with :meth:`attach`, end it with :meth:`close`."""

    def __init__(
        self,
        bridge: RosTcpBridge,
        namespace: str,
        types: MessageTypes | None = None,
        *,
        domain_id: int | None = None,
        qos_depth: int = 10,
    ) -> None:
        """Create the node and start forwarding; prefer :meth:`attach`, which returns None without rclpy.

        Raises:
            Ros2NotAvailableError: rclpy is not installed (the message names the install command).
            ValueError: ``namespace`` cannot be made a ROS 2 name, or ``qos_depth`` < 1.
        """
        self.namespace = _check_args(namespace, qos_depth)
        rclpy = require_rclpy()
        self.bridge, self.types, self._depth = bridge, types if types is not None else bridge.types, qos_depth
        self._lock = threading.Lock()
        self._closed = False
        self._publishers: dict[str, Any] = {}  # topic_key(unity topic) -> rclpy Publisher
        self._subscriptions: dict[str, Any] = {}  # topic_key(unity topic) -> rclpy Subscription
        self._names: dict[str, str] = {}  # ROS 2 topic -> type, for both directions
        self._skipped: set[tuple[str, str]] = set()
        self._create_node(rclpy, domain_id)
        self._thread = threading.Thread(target=self._spin, name=f"ros2-{self.namespace}", daemon=True)
        self._thread.start()
        _live.add(self)
        self._unhook = [bridge.add_raw_listener(self._on_raw), bridge.add_registration_listener(self._on_registration)]
        logger.info("%s on the ROS 2 graph as %s", bridge.name, self._node.get_fully_qualified_name())

    def _create_node(self, rclpy: Any, domain_id: int | None) -> None:
        """The node in an rclpy context of its own, added to an executor (the context shut down on failure)."""
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor

        _default_to_localhost_discovery()
        self._context = Context()
        # --disable-external-lib-logs: no log file per context under ~/.ros/log
        self._context.init(args=["--ros-args", "--disable-external-lib-logs"], domain_id=domain_id)
        try:
            self._node = rclpy.create_node(
                NODE_NAME,
                namespace=self.namespace,
                context=self._context,
                enable_rosout=False,
                start_parameter_services=False,
            )
            self._executor = SingleThreadedExecutor(context=self._context)
            self._executor.add_node(self._node)
        except BaseException:
            self._context.try_shutdown()
            raise

    @classmethod
    def attach(
        cls,
        bridge: RosTcpBridge,
        namespace: str,
        types: MessageTypes | None = None,
        *,
        domain_id: int | None = None,
        qos_depth: int = 10,
    ) -> Ros2Forwarder | None:
        """Forward ``bridge``'s topics under ``namespace`` (e.g. ``/ray_lab/<run>/worker_<k>``, sanitized).

        ``types`` resolves Unity's message names (default: the bridge's); ``domain_id`` defaults to
        ``ROS_DOMAIN_ID``. Returns None, and logs once per process that forwarding is off, when
        rclpy is not installed.

        Raises:
            ValueError: ``namespace`` cannot be made a ROS 2 name, or ``qos_depth`` < 1.
        """
        _check_args(namespace, qos_depth)
        if not rclpy_available():
            if not _off_logged.is_set():
                _off_logged.set()
                logger.warning("ROS 2 graph forwarding is off: rclpy is not installed (%s)", INSTALL_HINT)
            return None
        return cls(bridge, namespace, types, domain_id=domain_id, qos_depth=qos_depth)

    # ------------------------------------------------------------------ introspection
    def topics(self) -> dict[str, str]:
        """ROS 2 topics this node publishes or subscribes to (both directions): name → ROS 2 type."""
        with self._lock:
            return dict(self._names)

    def ros_topic(self, unity_topic: str) -> str:
        """The ROS 2 name of a Unity topic: ``<namespace>/<topic>``, sanitized."""
        return ros_name(f"{self.namespace}/{unity_topic}")

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    # ------------------------------------------------------------------ bridge callbacks (reader thread)
    def _on_registration(self, table: str, reg: Registration) -> None:
        if table not in ("publishers", "subscribers"):
            return
        key = topic_key(reg.topic)
        with self._lock:
            entities = self._publishers if table == "publishers" else self._subscriptions
            if self._closed or key in entities or (table, key) in self._skipped:
                return
            msg_class = self._message_class(table, reg)
            if msg_class is None:
                return
            ros_topic = self.ros_topic(reg.topic)
            try:
                if table == "publishers":
                    entities[key] = self._node.create_publisher(msg_class, ros_topic, self._depth)
                else:
                    forward = functools.partial(self._to_unity, reg.topic)
                    entities[key] = self._node.create_subscription(msg_class, ros_topic, forward, self._depth, raw=True)
            except Exception as exc:
                self._skip(table, reg, f"rclpy could not create it: {exc}")
                return
            self._names[ros_topic] = reg.types[0]
        direction = "republishing Unity's" if table == "publishers" else "forwarding to Unity"
        logger.info("%s: %s %s (%s) as %s", self.namespace, direction, reg.topic, reg.types[0], ros_topic)

    def _message_class(self, table: str, reg: Registration) -> type | None:
        try:
            typename = self.types.resolve(reg.message_name)
        except KeyError:
            typename = reg.types[0]
        package, kind, name = [*typename.split("/"), "", ""][:3]
        try:
            msg_class = getattr(importlib.import_module(f"{package}.{kind}"), name)
        except (ImportError, AttributeError) as exc:
            self._skip(table, reg, f"no ROS 2 Python message {package}.{kind}.{name} is installed ({exc})")
            return None
        return msg_class if isinstance(msg_class, type) else None

    def _skip(self, table: str, reg: Registration, why: str) -> None:
        self._skipped.add((table, topic_key(reg.topic)))
        logger.info("%s: not forwarding %s (%s): %s", self.namespace, reg.topic, reg.message_name, why)

    def _on_raw(self, reg: Registration, payload: bytes) -> None:
        publisher = self._publishers.get(topic_key(reg.topic))
        if publisher is not None and not self._closed:
            publisher.publish(bytes(payload))  # rclpy publishes bytes as an already serialized message

    # ------------------------------------------------------------------ ROS 2 → Unity (executor thread)
    def _to_unity(self, topic: str, data: bytes) -> None:
        try:
            self.bridge.publish(topic, data)
        except (ConnectionError, LookupError) as exc:  # Unity is away or unsubscribed: drop, as ROS would
            logger.debug("%s: dropped a ROS 2 message for %s: %s", self.namespace, topic, exc)

    def _spin(self) -> None:
        try:
            self._executor.spin()
        except Exception as exc:  # the context was shut down under it
            if not self._closed:
                logger.error("%s: ROS 2 executor stopped: %r", self.namespace, exc)

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Stop forwarding: unhook from the bridge, destroy the node, shut the context down. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        _live.discard(self)
        for unhook in self._unhook:
            unhook()
        self._executor.shutdown(timeout_sec=2.0)
        self._node.destroy_node()
        self._context.try_shutdown()
        if self._thread is not threading.current_thread():
            self._thread.join(2.0)

    def __enter__(self) -> Ros2Forwarder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self._names)} topics"
        return f"Ros2Forwarder({self.namespace!r}, {state})"


def _default_to_localhost_discovery() -> None:
    if not any(os.environ.get(k) for k in ("ROS_AUTOMATIC_DISCOVERY_RANGE", "ROS_LOCALHOST_ONLY")):
        os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
        logger.info("ROS_AUTOMATIC_DISCOVERY_RANGE is not set: using LOCALHOST (set SUBNET to reach other machines)")


def _check_args(namespace: str, qos_depth: int) -> str:
    if isinstance(qos_depth, bool) or not isinstance(qos_depth, int) or qos_depth < 1:
        raise ValueError(f"qos_depth must be an int >= 1, got {qos_depth!r}")
    return ros_name(namespace)
