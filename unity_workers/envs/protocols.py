"""`make_session_factory`: the simulator protocol an ``environment.unity`` section asks for (ROS-TCP or gRPC)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from unity_workers.ros_tcp import MessageTypes
from unity_workers.session import SimSessionFactory
from unity_workers.spec import UnitySpec

from .adapters import make_adapter
from .batch_session import ACTIONS, STATES, BatchRosTcpSessionFactory
from .field_checks import check_field_map
from .ros_session import RosTcpSessionFactory, default_interfaces_dir

__all__ = ["make_session_factory", "service_names"]


def service_names(spec: UnitySpec, environment_id: int) -> tuple[str, str]:
    """The step and reset service names: configured, or the seed's ``/<env_name>_<id>/step|reset``."""
    prefix = f"/{spec.env_name}_{environment_id}"
    return spec.step_service or f"{prefix}/step", spec.reset_service or f"{prefix}/reset"


def field_problems(spec: UnitySpec, types: MessageTypes) -> list[tuple[str, str]]:
    """``spec.fields`` checked against its service types (per agent for a multi-agent player)."""
    if spec.fields is None:
        return []
    step_srv, reset_srv = spec.service_types()
    agents = STATES if spec.agents_per_instance > 1 else None
    return check_field_map(spec.fields, types, step_srv, reset_srv, spec.observation_space, agents)


def make_session_factory(
    spec: UnitySpec, environment_id: int, ros2_namespace: str | None, parameter_names: Sequence[str] = ()
) -> SimSessionFactory:
    """A session factory for ``spec``; raises ``ValueError`` for unknown types or a bad mapping.

    The reference simulator publishes a rendered top-down camera on ``/<env_name>_<id>/camera`` when
    it runs with graphics, so that is its image source unless ``image_topic`` says otherwise.
    """
    if spec.protocol == "grpc":
        from unity_workers.grpc_env import GrpcSessionFactory

        return GrpcSessionFactory(host=spec.ros_ip, max_message_bytes=spec.max_message_bytes)
    step, reset = service_names(spec, environment_id)
    step_srv, reset_srv = spec.service_types()
    image_topic = spec.image_topic
    if image_topic is None and not spec.uses_own_player:
        image_topic = f"/{spec.env_name}_{environment_id}/camera"
    fields = spec.fields
    types = MessageTypes(spec.interface if spec.interface is not None else default_interfaces_dir())
    problems = [] if fields is None else field_problems(spec, types)
    if problems:
        raise ValueError("; ".join(f"environment.unity.{key}: {message}" for key, message in problems))
    common: dict[str, Any] = dict(
        types=types,
        adapter=make_adapter(spec),
        step_service=step,
        reset_service=reset,
        step_srv=step_srv,
        reset_srv=reset_srv,
        host=spec.ros_ip,
        max_payload_bytes=spec.max_message_bytes,
        image_topic=image_topic,
        ros2_graph=spec.ros2_graph,
        ros2_namespace=ros2_namespace,
        send_timeout_s=spec.step_timeout_s,  # a write to a player that stops reading fails like a step
        require_token=spec.require_token,
        parameter_names=tuple(parameter_names),
    )
    if spec.agents_per_instance > 1:
        action = fields.action.strip() if fields is not None else "action"  # NavAdapter's request field
        return BatchRosTcpSessionFactory(
            **common,
            agents=spec.agents_per_instance,
            agent_action_field=action,
            actions_field=action if fields is not None else ACTIONS,
            states_field=STATES,
            seed_field=None,
        )
    return RosTcpSessionFactory(**common, seed_field=fields.seed if fields is not None else "seed")
