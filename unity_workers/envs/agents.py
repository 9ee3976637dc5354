"""Many agents per player: `AgentBatch` owns one multi-agent player, `AgentEnv` is one agent as a gym env.

With ``environment.unity.agents_per_instance`` k > 1 a worker's envs are the agents of its players,
k per player. Each agent is its own :class:`AgentEnv` (its own episode, its own auto-reset), and the
k views of one player share an :class:`AgentBatch`, which sends one batch request per vector step:

* **step**: each view's ``step_send`` hands its action to the batch; the k-th action sends the batch
  step, so the players of one worker run together (the worker sends to every env first, see
  ``ray_lab.workers.stepping``). Each view's ``step`` then takes its agent's part of the answer.
* **reset**: views hand in their resets (seed and parameters); the first view that collects sends one
  batch reset for every agent handed in, so only the agents that finished are reset.
* **faults**: a fault restarts the player within the quota (:class:`~unity_workers.envs.player.Player`)
  and ends every agent's episode as truncated (``info["env_restarted"]``). A fault during a reset
  resets every agent of the new player; the agents not asked to reset end their next step truncated.

Views are built one by one by the worker's env factories: agent 0 starts the player and registers
the batch under its (group, worker, instance); agents 1..k-1 join it (:func:`agent_env`).
"""

from __future__ import annotations

import threading
from typing import Any

import gymnasium as gym
import numpy as np

from unity_workers.spec import UnitySpec

from .agent_batch import AgentBatch

__all__ = ["AgentEnv", "agent_env"]

_BATCHES: dict[tuple[str, int, int], AgentBatch] = {}
_LOCK = threading.Lock()


class AgentEnv(gym.Env[Any, Any]):
    """Agent ``agent`` of a multi-agent player, as a gymnasium env with the split-phase calls of ``UnityEnv``."""

    metadata: dict[str, Any] = {"render_modes": ["rgb_array"], "render_fps": 10}
    requires_split_phase = True  # the player steps when every agent sent its action (ray_lab.workers.stepping)

    def __init__(self, batch: AgentBatch, agent: int, render_mode: str | None = None) -> None:
        self.batch, self.agent, self.render_mode = batch, agent, render_mode
        self.observation_space = batch.observation_space
        self.action_space = batch.action_space
        batch.join(agent)

    @property
    def restarts(self) -> int:
        """Restarts of the shared player so far."""
        return self.batch.player.restarts

    def step_send(self, action: Any) -> None:
        """Hand this agent's action to the batch (the last agent's sends the batch step)."""
        self.batch.put_action(self.agent, action)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        """This agent's part of the batch step (handing in ``action`` first unless ``step_send`` did)."""
        if not self.batch.has_action(self.agent):
            self.batch.put_action(self.agent, action)
        return self.batch.collect_step(self.agent)

    def reset_send(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> None:
        """Hand this agent's reset to the batch (sent with the others' when the first is collected)."""
        super().reset(seed=seed)
        self.batch.put_reset(self.agent, seed, options)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        """Start this agent's episode (seeded when ``seed`` is given); other agents keep theirs."""
        if not self.batch.has_reset(self.agent):
            self.reset_send(seed=seed, options=options)
        return self.batch.collect_reset(self.agent)

    def render(self) -> np.ndarray | None:  # type: ignore[override]
        """The player's camera frame for agent 0 (``rgb_array``); other agents render nothing."""
        if self.render_mode != "rgb_array" or self.agent != 0:
            return None
        return self.batch.render()

    def close(self) -> None:
        """Leave the batch; the last agent to leave closes the player. Idempotent."""
        self.batch.leave(self.agent)

    def __repr__(self) -> str:
        return f"AgentEnv(worker={self.batch.worker_index}, agent={self.agent}/{self.batch.n_agents})"


def agent_env(spec: UnitySpec, agent: int, **where: Any) -> AgentEnv:
    """Agent ``agent`` of the player at ``where`` (``UnityEnv``'s placement keywords).

    Agent 0 starts the player; the others join the batch agent 0 registered for the same group,
    worker and ``environment_id``.
    """
    key = (str(where.get("group", "train")), int(where.get("worker_index", 0)), int(where.get("environment_id", 0)))
    render_mode = where.get("render_mode")
    with _LOCK:
        for old in [name for name, known in _BATCHES.items() if known.closed]:
            del _BATCHES[old]
        batch = _BATCHES.get(key)
        if agent == 0 or batch is None or batch.closed:
            if agent != 0:
                raise RuntimeError(
                    f"agent {agent} of player {key[2]} (worker {key[1]}, {key[0]}) was built before agent 0, "
                    "which starts the player"
                )
            batch = _BATCHES[key] = AgentBatch(spec, **where)
    return AgentEnv(batch, agent, render_mode)
