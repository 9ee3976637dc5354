"""`AgentBatch`: the k agents of one multi-agent player, stepped and reset in one round trip each.

See :mod:`unity_workers.envs.agents` for how the per-agent gym views use it. The batch is either
collecting actions (``ACTING``), has sent its step (``STEPPED``), or is idle; resets handed in wait in
``pending`` until the first view collects one.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from unity_workers.session import StepOutcome
from unity_workers.spec import UnitySpec

from .batch_session import AgentReset, BatchRosTcpSession
from .player import FAULTS, Player
from .player_setup import coerce_spec
from .unity_env import episode_parameters, zeros

__all__ = ["AgentBatch", "BatchPhase"]


class BatchPhase(Enum):
    """Idle, collecting the agents' actions, or a batch step in flight."""

    IDLE = "idle"
    ACTING = "acting"
    STEPPED = "stepped"


class AgentBatch:
    """One player of ``spec.agents_per_instance`` agents and what its agents handed in or have to collect."""

    def __init__(
        self,
        spec: UnitySpec,
        *,
        worker_index: int = 0,
        env_slot: int = 0,
        environment_id: int = 0,
        group: str = "train",
        log_dir: str | None = None,
        ros2_namespace: str | None = None,
        render_mode: str | None = None,
        parameter_names: tuple[str, ...] = (),
    ) -> None:
        self.spec = spec = coerce_spec(spec, {})
        self.worker_index, self.n_agents = int(worker_index), spec.agents_per_instance
        self.player = Player.for_env(
            spec,
            worker_index=self.worker_index,
            env_slot=env_slot,
            environment_id=environment_id,
            group=group,
            log_dir=log_dir,
            ros2_namespace=ros2_namespace,
            graphics=render_mode == "rgb_array",
            parameter_names=parameter_names,
        )
        session = self.player.start()
        self.observation_space, self.action_space = session.observation_space, session.action_space
        self.phase = BatchPhase.IDLE
        self._members: set[int] = set()
        self._actions: dict[int, Any] = {}
        self._step_fault: BaseException | None = None
        self._steps: dict[int, StepOutcome] = {}  # answers not yet collected by their agent
        self._pending: dict[int, AgentReset] = {}  # resets handed in, not yet sent
        self._resets: dict[int, tuple[Any, dict[str, Any]]] = {}  # reset answers not yet collected
        self._cut: set[int] = set()  # agents whose episode a restart ended outside their own step
        self._last_obs: list[Any] = [zeros(self.observation_space) for _ in range(self.n_agents)]

    @property
    def closed(self) -> bool:
        return self.player.closed

    def _session(self) -> BatchRosTcpSession:
        session = self.player.live_session()
        assert isinstance(session, BatchRosTcpSession)  # make_session_factory's rule for agents_per_instance > 1
        return session

    # ------------------------------------------------------------------ members
    def join(self, agent: int) -> None:
        """Register the view of ``agent``; ``ValueError`` for an index out of range or taken."""
        if not 0 <= agent < self.n_agents or agent in self._members:
            raise ValueError(
                f"worker {self.worker_index}: agent {agent} cannot join a player of {self.n_agents} agents "
                f"(agents joined: {sorted(self._members)})"
            )
        self._members.add(agent)

    def leave(self, agent: int) -> None:
        """Unregister ``agent``'s view; the last one out closes the player. Idempotent."""
        self._members.discard(agent)
        if not self._members:
            self.player.close()

    # ------------------------------------------------------------------ step
    def has_action(self, agent: int) -> bool:
        """Whether ``agent`` handed in its action for the step now collecting or in flight."""
        return agent in self._actions

    def put_action(self, agent: int, action: Any) -> None:
        """Hand in ``agent``'s action; the last one sends the batch step."""
        if self._pending or self.phase is BatchPhase.STEPPED or agent in self._steps or agent in self._actions:
            raise RuntimeError(self._order_error(f"agent {agent} handed in an action"))
        self._actions[agent] = action
        self.phase = BatchPhase.ACTING
        if len(self._actions) == self.n_agents:
            self._send_step()

    def _send_step(self) -> None:
        self.phase, self._step_fault = BatchPhase.STEPPED, None
        actions = [self._actions[agent] for agent in range(self.n_agents)]
        try:
            self._session().step_send(actions, self.spec.step_timeout_s)
        except FAULTS as exc:
            self._step_fault = exc

    def collect_step(self, agent: int) -> StepOutcome:
        """``agent``'s part of the batch step (receiving it when it is the first to collect)."""
        if agent not in self._steps:
            if self.phase is not BatchPhase.STEPPED:
                missing = sorted(set(range(self.n_agents)) - set(self._actions))
                raise RuntimeError(self._order_error(f"agent {agent} collected a step; agents {missing} sent none"))
            self._receive_step()
        obs, reward, terminated, truncated, info = self._steps.pop(agent)
        self._actions.pop(agent, None)
        if agent in self._cut:
            self._cut.discard(agent)
            truncated, info = not terminated, {**info, "env_restarted": True}
        self._last_obs[agent] = obs
        return obs, reward, terminated, truncated, {**info, "restarts": self.player.restarts}

    def _receive_step(self) -> None:
        fault = self._step_fault
        if fault is None:
            try:
                outcomes = self._session().step_agents_receive()
            except FAULTS as exc:
                fault = exc
        if fault is not None:
            self.player.restart(fault)
            cut = {"env_restarted": True, "restart_cause": repr(fault)}
            outcomes = [(self._last_obs[i], 0.0, False, True, dict(cut)) for i in range(self.n_agents)]
            self._cut.clear()  # every episode ends in this step anyway
        self._steps = dict(enumerate(outcomes))
        self.phase = BatchPhase.IDLE

    # ------------------------------------------------------------------ reset
    def has_reset(self, agent: int) -> bool:
        """Whether ``agent`` handed in a reset that it has not collected."""
        return agent in self._pending or agent in self._resets

    def put_reset(self, agent: int, seed: int | None, options: dict[str, Any] | None) -> None:
        """Hand in ``agent``'s reset (sent with the others' when the first is collected)."""
        if self.phase is not BatchPhase.IDLE:
            raise RuntimeError(self._order_error(f"agent {agent} handed in a reset"))
        self._steps.pop(agent, None)  # a step answer left uncollected is dropped, as UnityEnv.reset does
        self._resets.pop(agent, None)
        self._pending[agent] = AgentReset(agent, seed, episode_parameters(options))

    def collect_reset(self, agent: int) -> tuple[Any, dict[str, Any]]:
        """``agent``'s new episode (sending every reset handed in when it is the first to collect)."""
        if agent not in self._resets:
            self._send_resets()
        obs, info = self._resets.pop(agent)
        self._last_obs[agent] = obs
        return obs, {**info, "restarts": self.player.restarts}

    def _send_resets(self) -> None:
        resets = [self._pending[agent] for agent in sorted(self._pending)]
        asked = set(self._pending)
        self._pending = {}
        while True:
            try:
                session = self._session()
                session.reset_agents_send(resets, self.spec.step_timeout_s)
                answers = session.reset_agents_receive([reset.agent for reset in resets])
                break
            except FAULTS as exc:
                self.player.restart(exc)  # the new player starts every agent afresh: reset them all
                resets = self._all_agents(resets)
        for reset, answer in zip(resets, answers, strict=True):
            if reset.agent in asked:  # the others (reset after a restart) carry on into their cut step
                self._resets[reset.agent] = answer

    def _all_agents(self, resets: list[AgentReset]) -> list[AgentReset]:
        """``resets`` plus an unseeded reset of every other agent, whose episode the restart cut."""
        asked = {reset.agent: reset for reset in resets}
        others = [agent for agent in range(self.n_agents) if agent not in asked]
        self._cut.update(others)
        parameters = next((reset.parameters for reset in resets if reset.parameters), None)
        return [asked.get(agent, AgentReset(agent, None, parameters)) for agent in range(self.n_agents)]

    # ------------------------------------------------------------------ misc
    def render(self) -> Any:
        """The player's camera frame (agent 0's), or None."""
        session = self.player.session
        return None if session is None else session.render()

    def _order_error(self, what: str) -> str:
        return (
            f"worker {self.worker_index}: {what} out of order ({self.phase.value}, actions from "
            f"{sorted(self._actions)}, resets pending for {sorted(self._pending)}); the agents of a player are "
            "stepped together: every agent sends its action (step_send), then each collects (step); "
            "`workers.env_concurrency` must be `auto`"
        )
