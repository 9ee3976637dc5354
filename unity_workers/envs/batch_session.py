"""`BatchRosTcpSession`: one ROS-TCP round trip steps, or resets, every agent of a multi-agent player.

A player with ``agents_per_instance`` k > 1 serves the batch service types
(``ray_lab_interfaces/EnvironmentStepBatch`` / ``EnvironmentResetBatch``, or a user's pair with the
same field names): the step request carries all k actions, agent-major, in ``actions``; the reset
request lists the ``agents`` to reset with their ``seeds`` and an agent-major table of
``parameter_values``; both responses carry every agent's state in ``states``. The agent adapter (a
:class:`~unity_workers.envs.adapters.StepAdapter`) maps each agent's item of ``states`` exactly as
it maps a single-agent response, so a field mapping or adapter works for both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from unity_workers.ros_tcp.admission import new_token
from unity_workers.session import Parameters, StepOutcome

from .ros_session import PARAMETER_NAMES, PARAMETER_VALUES, RosTcpSession, RosTcpSessionFactory

__all__ = ["ACTIONS", "AGENTS", "SEEDS", "STATES", "AgentReset", "BatchRosTcpSession", "BatchRosTcpSessionFactory"]

AGENTS, SEEDS = "agents", "seeds"
"""Batch reset-request fields: the agents to reset and one seed each (-1: none)."""
ACTIONS, STATES = "actions", "states"
"""Batch step-request field with every agent's action (agent-major), and response field with every state."""


@dataclass(frozen=True)
class AgentReset:
    """One agent's part of a batch reset: its index, seed (None: no seed) and episode parameters."""

    agent: int
    seed: int | None = None
    parameters: Parameters | None = None


@dataclass
class BatchRosTcpSessionFactory(RosTcpSessionFactory):
    """Opens bridges for one multi-agent player of ``agents`` agents."""

    agents: int = 2
    states_field: str = STATES  # response field holding every agent's state, in agent order
    actions_field: str = ACTIONS  # step-request field receiving all actions, agent-major
    agent_action_field: str = "action"  # the field of the agent adapter's step request holding its action

    def open(self, worker_index: int) -> BatchRosTcpSession:
        """A started bridge on a free port of this node (see :meth:`RosTcpSessionFactory.open`)."""
        token = new_token() if self.require_token else None
        return BatchRosTcpSession(self, self.start_bridge(worker_index, token), worker_index, token)

    def batch_parameters(self, resets: Sequence[AgentReset]) -> dict[str, Any]:
        """The names and the agent-major value table of ``resets`` (none when no agent has parameters)."""
        named = [reset.parameters for reset in resets if reset.parameters]
        if not named:
            return {}
        names = list(named[0])
        rows = []
        for reset in resets:
            given = dict(reset.parameters or {})
            if sorted(given) != sorted(names):
                raise ValueError(
                    f"agents reset together need the same parameter names: agent {reset.agent} has "
                    f"{sorted(given)}, expected {sorted(names)}"
                )
            rows.append([float(given[name]) for name in names])
        values = np.asarray(rows, dtype=np.float64).reshape(-1)
        fields = self.parameter_request({name: 0.0 for name in names})  # the fields exist (ValueError if not)
        return {**fields, PARAMETER_NAMES: names, PARAMETER_VALUES: values}


class BatchRosTcpSession(RosTcpSession):
    """Steps and resets the k agents of one player together (through :class:`~unity_workers.envs.agents.AgentBatch`).

    The single-agent calls of :class:`~unity_workers.session.SimSession` (``reset_send(seed)``,
    ``reset_receive``, ``step_receive``) do not apply to a batch and raise ``TypeError``.
    """

    factory: BatchRosTcpSessionFactory

    def __init__(
        self, factory: BatchRosTcpSessionFactory, bridge: Any, worker_index: int, token: str | None = None
    ) -> None:
        super().__init__(factory, bridge, worker_index, token)
        self.factory = factory
        self.n_agents = factory.agents
        self._previous_states: list[Any | None] = [None] * self.n_agents

    # ------------------------------------------------------------------ reset
    def reset_agents_send(self, resets: Sequence[AgentReset], timeout_s: float) -> None:
        """Send one reset request for ``resets`` (the other agents keep their episodes)."""
        request = self._reset_constants()
        request[AGENTS] = np.asarray([reset.agent for reset in resets], dtype=np.int32)
        request[SEEDS] = np.asarray([-1 if r.seed is None else int(r.seed) for r in resets], dtype=np.int64)
        request.update(self.factory.batch_parameters(resets))
        self._send("reset", self.factory.reset_service, request, timeout_s)

    def _reset_constants(self) -> dict[str, Any]:
        """The adapter's constant reset fields that the batch request has, and ``reset: true``."""
        known = self.factory._reset_fields
        request = {name: value for name, value in self.adapter.make_reset_request(None).items() if name in known}
        if "reset" in known:
            request["reset"] = True
        return request

    def reset_agents_receive(self, agents: Sequence[int]) -> list[tuple[Any, dict[str, Any]]]:
        """Collect the batch reset: ``(observation, info)`` of each of ``agents``, in that order."""
        states = self._states(self._receive("reset"))
        for agent in agents:
            self._previous_states[agent] = states[agent]
        return [(self.adapter.observation(states[agent]), {}) for agent in agents]

    # ------------------------------------------------------------------ step
    def step_send(self, action: Any, timeout_s: float) -> None:
        """Send every agent's action (``action``: one per agent, in agent order) in one request."""
        actions = list(action)
        if len(actions) != self.n_agents:
            raise ValueError(f"worker {self.worker_index}: expected {self.n_agents} actions, got {len(actions)}")
        key = self.factory.agent_action_field
        requests = [self.adapter.make_step_request(a) for a in actions]
        request = {name: value for name, value in requests[0].items() if name != key}  # the step constants
        request[self.factory.actions_field] = np.concatenate([np.asarray(r[key]).reshape(-1) for r in requests])
        self._send("step", self.factory.step_service, request, timeout_s)

    def step_agents_receive(self) -> list[StepOutcome]:
        """Collect the batch step: every agent's ``(obs, reward, terminated, truncated, info)``."""
        states = self._states(self._receive("step"))
        return [self._outcome(agent, state) for agent, state in enumerate(states)]

    def _outcome(self, agent: int, state: Any) -> StepOutcome:
        reward = self.adapter.reward(state, self._previous_states[agent])
        self._previous_states[agent] = state
        terminated = self.adapter.terminated(state)
        truncated = self.adapter.truncated(state) and not terminated
        info_of = getattr(self.adapter, "info", None)
        info = dict(info_of(state)) if info_of is not None else {}
        return self.adapter.observation(state), reward, terminated, truncated, info

    def _states(self, response: Any) -> list[Any]:
        self._last_response = response
        states = list(getattr(response, self.factory.states_field))
        if len(states) != self.n_agents:
            raise ValueError(
                f"worker {self.worker_index}: the player answered {len(states)} agent states in "
                f"{self.factory.states_field!r}, expected {self.n_agents} (its --agents)"
            )
        return states

    # ------------------------------------------------------------------ not for batches
    def reset_send(self, seed: int | None, timeout_s: float, parameters: Parameters | None = None) -> None:
        """Not for batches: use :meth:`reset_agents_send`."""
        raise TypeError("a multi-agent session resets agents: use reset_agents_send()")

    def reset_receive(self) -> tuple[np.ndarray, dict[str, Any]]:
        """Not for batches: use :meth:`reset_agents_receive`."""
        raise TypeError("a multi-agent session resets agents: use reset_agents_receive()")

    def step_receive(self) -> StepOutcome:
        """Not for batches: use :meth:`step_agents_receive`."""
        raise TypeError("a multi-agent session steps agents: use step_agents_receive()")

    def render(self) -> np.ndarray | None:
        """Agent 0's camera frame (the adapter's image of its state), else the latest image on ``image_topic``."""
        image_of = getattr(self.adapter, "image", None)
        state = self._previous_states[0]
        if image_of is not None and state is not None:
            frame = image_of(state)
            if frame is not None:
                return np.asarray(frame)
        if self.factory.image_topic is not None:
            from .fields import image_to_rgb

            message = self.bridge.latest(self.factory.image_topic)
            return None if message is None else image_to_rgb(message)
        return None
