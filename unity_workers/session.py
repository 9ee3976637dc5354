"""The contract between :class:`~unity_workers.envs.UnityEnv` and its connection to one simulator.

A *session* is the server side of one connection to one simulator instance: the ROS-TCP bridge
(:class:`~unity_workers.envs.ros_session.RosTcpSession`) or the gRPC env client
(:class:`~unity_workers.grpc_env.GrpcSession`). ``UnityEnv`` owns the player process and the
restart quota; it opens a new session for every (re)start:

1. ``session = factory.open(worker_index)``: bind or pick a free port on this node;
2. the player is launched with ``--ros-port session.port`` plus ``session.player_args``, its
   environment extended by ``session.player_env``;
3. ``session.wait_ready(process, timeout_s)``: the simulator connected and offers reset/step;
4. ``reset``/``step`` until a fault, then ``close()`` and back to 1.

Reset and step are split in two phases so that one thread can keep several simulators busy at once:
``step_send`` returns as soon as the request is sent and ``step_receive`` collects the answer (the
same for ``reset_send``/``reset_receive``); ``step``/``reset`` are send-then-receive. At most one
call is in flight per session, and its ``timeout_s`` counts from the send, so ``k`` sessions with
calls in flight together each get their full timeout. A fault may surface at either phase.

Faults are reported with exactly three exception types, which ``UnityEnv`` turns into restarts:
``TimeoutError`` (no answer in time), ``ConnectionError`` (the connection dropped or never came)
and :class:`~unity_workers.launcher.PlayerDiedError` (from ``wait_ready``, when the process exited).
Anything else is a bug or a bad config and propagates to the caller unchanged.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from unity_workers.launcher import UnityProcess

__all__ = ["Parameters", "SimSession", "SimSessionFactory", "StepOutcome"]

Parameters = Mapping[str, float]
"""Environment parameters of one episode, name: value (``environment.parameters``)."""

StepOutcome = tuple[np.ndarray, float, bool, bool, dict[str, Any]]
"""``(observation, reward, terminated, truncated, info)`` as in ``gymnasium.Env.step``."""


class SimSession(ABC):
    """One live connection to one simulator instance (closed and replaced on every restart)."""

    @property
    @abstractmethod
    def port(self) -> int:
        """The port handed to the player as ``--ros-port``."""

    @property
    def player_args(self) -> Sequence[str]:
        """Extra player arguments this protocol needs (e.g. ``--protocol grpc``); none by default."""
        return ()

    @property
    def player_env(self) -> Mapping[str, str]:
        """Extra environment variables of the player this session waits for (e.g. its per-launch token)."""
        return {}

    @property
    @abstractmethod
    def observation_space(self) -> gym.Space[Any]:
        """The observation space (known once :meth:`wait_ready` returned)."""

    @property
    @abstractmethod
    def action_space(self) -> gym.Space[Any]:
        """The action space (known once :meth:`wait_ready` returned)."""

    @abstractmethod
    def wait_ready(self, process: UnityProcess, timeout_s: float) -> None:
        """Block until the simulator in ``process`` is connected and serves reset and step.

        Raises:
            PlayerDiedError: the process exited first (with its exit code and log tail).
            TimeoutError: not ready within ``timeout_s`` (the message says what was missing).
        """

    @abstractmethod
    def reset_send(self, seed: int | None, timeout_s: float, parameters: Parameters | None = None) -> None:
        """Send a reset (seeded when ``seed`` is not None); ``timeout_s`` counts from now.

        ``parameters`` are the new episode's environment parameters (name: value), when there are any.

        Raises:
            ConnectionError: the connection is gone.
            RuntimeError: another call is still in flight (a bug of the caller).
        """

    @abstractmethod
    def reset_receive(self) -> tuple[np.ndarray, dict[str, Any]]:
        """Collect the reset sent by :meth:`reset_send`: ``(observation, info)``.

        Raises:
            TimeoutError: no answer within the send's ``timeout_s``.
            ConnectionError: the connection is gone.
            RuntimeError: no reset is in flight (a bug of the caller).
        """

    @abstractmethod
    def step_send(self, action: Any, timeout_s: float) -> None:
        """Send ``action`` for one agent step; same errors as :meth:`reset_send`."""

    @abstractmethod
    def step_receive(self) -> StepOutcome:
        """Collect the step sent by :meth:`step_send`; same errors as :meth:`reset_receive`."""

    def reset(
        self, seed: int | None, timeout_s: float, parameters: Parameters | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode and wait for it: :meth:`reset_send` then :meth:`reset_receive`."""
        self.reset_send(seed, timeout_s, parameters)
        return self.reset_receive()

    def step(self, action: Any, timeout_s: float) -> StepOutcome:
        """Apply ``action`` for one agent step and wait for it: :meth:`step_send` then :meth:`step_receive`."""
        self.step_send(action, timeout_s)
        return self.step_receive()

    def render(self) -> np.ndarray | None:
        """The latest camera frame as an ``(H, W, 3)`` uint8 array, or None without an image source."""
        return None

    @abstractmethod
    def close(self) -> None:
        """Release the port and the connection (a call in flight is dropped). Calling it twice is harmless."""


class SimSessionFactory(ABC):
    """Creates the sessions of one env (one per start of its player); picklable plain data."""

    @abstractmethod
    def open(self, worker_index: int) -> SimSession:
        """A new session with its port bound (or reserved) on this node, not yet connected."""
