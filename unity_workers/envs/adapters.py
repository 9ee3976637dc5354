"""`StepAdapter`: how a ROS-TCP env turns actions into requests and service responses into gym values.

Three ways to get one, from an ``environment.unity`` section (:func:`make_adapter`): a Python class
by ``package.module:Class`` path (like the seed's convert_action_to_request / convert_response_to_state),
a YAML field mapping (:class:`~unity_workers.envs.fields.FieldAdapter`), or, for the reference
simulator, :class:`~unity_workers.envs.nav_adapter.NavAdapter`.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol, runtime_checkable

import gymnasium as gym

from unity_workers.spec import UnitySpec

__all__ = ["DEFAULT_ADAPTER", "StepAdapter", "load_adapter", "make_adapter"]

DEFAULT_ADAPTER = "unity_workers.envs.nav_adapter:NavAdapter"


@runtime_checkable
class StepAdapter(Protocol):
    """Maps gymnasium actions/seeds to service requests and service responses to gymnasium values.

    An adapter may also define ``image(response) -> np.ndarray | None`` (an ``(H, W, 3)`` uint8 frame)
    to give videos an image source, and ``info(response) -> dict`` for the step's info (e.g.
    ``is_success`` at the end of an episode, which evaluation rounds report as ``eval/success_rate``).
    """

    observation_space: gym.Space[Any]
    action_space: gym.Space[Any]

    def make_step_request(self, action: Any) -> dict[str, Any]: ...

    def make_reset_request(self, seed: int | None) -> dict[str, Any]: ...

    def observation(self, response: Any) -> Any: ...

    def reward(self, response: Any, previous: Any | None) -> float: ...

    def terminated(self, response: Any) -> bool: ...

    def truncated(self, response: Any) -> bool: ...


def load_adapter(path: str, kwargs: dict[str, Any] | None = None) -> StepAdapter:
    """Import ``module:Class`` and instantiate it with ``kwargs``; raises ``ValueError`` for bad paths."""
    module_name, sep, attr = path.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"adapter must look like 'package.module:Class', got {path!r}")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot load adapter {path!r}: {exc}") from exc
    adapter = cls(**(kwargs or {}))
    if not isinstance(adapter, StepAdapter):
        raise ValueError(f"adapter {path!r} does not implement StepAdapter (got {type(adapter).__name__})")
    return adapter


def make_adapter(spec: UnitySpec) -> StepAdapter:
    """The adapter an ``environment.unity`` section asks for (field mapping, class path or NavAdapter)."""
    if spec.fields is not None:
        from .fields import FieldAdapter

        assert spec.observation_space is not None and spec.action_space is not None  # checked by UnitySpec
        return FieldAdapter(spec.fields, spec.observation_space, spec.action_space, spec.reset_srv)
    return load_adapter(spec.adapter or DEFAULT_ADAPTER, spec.adapter_kwargs)
