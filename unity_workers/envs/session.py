"""The contract between :class:`~unity_workers.envs.UnityEnv` and one transport to one simulator.

A *session* is the server side of one connection to one simulator instance: the ROS-TCP bridge
(:class:`~unity_workers.envs.ros_session.RosTcpSession`) or the gRPC env client
(:class:`~unity_workers.grpc_env.GrpcSession`). ``UnityEnv`` owns the player process and the
restart quota; it opens a new session for every (re)start:

1. ``session = factory.open(worker_index)``: bind or pick a free port on this node;
2. the player is launched with ``--ros-port session.port`` plus ``session.player_args``;
3. ``session.wait_ready(process, timeout_s)``: the simulator connected and offers reset/step;
4. ``reset``/``step`` until a fault, then ``close()`` and back to 1.

Faults are reported with exactly three exception types, which ``UnityEnv`` turns into restarts:
``TimeoutError`` (no answer in time), ``ConnectionError`` (the connection dropped or never came)
and :class:`~unity_workers.launcher.PlayerDiedError` (from ``wait_ready``, when the process exited).
Anything else is a bug or a bad config and propagates to the caller unchanged.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from unity_workers.launcher import UnityProcess

__all__ = ["SimSession", "SimSessionFactory", "StepOutcome"]

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
        """Extra player arguments this transport needs (e.g. ``--protocol grpc``); none by default."""
        return ()

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
    def reset(self, seed: int | None, timeout_s: float) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode (seeded when ``seed`` is not None); ``(observation, info)``.

        Raises:
            TimeoutError: no answer within ``timeout_s``.
            ConnectionError: the connection is gone.
        """

    @abstractmethod
    def step(self, action: Any, timeout_s: float) -> StepOutcome:
        """Apply ``action`` for one agent step; same errors as :meth:`reset`."""

    def render(self) -> np.ndarray | None:
        """The latest camera frame as an ``(H, W, 3)`` uint8 array, or None without an image source."""
        return None

    @abstractmethod
    def close(self) -> None:
        """Release the port and the connection. Calling it twice is harmless."""


class SimSessionFactory(ABC):
    """Creates the sessions of one env (one per start of its player); picklable plain data."""

    @abstractmethod
    def open(self, worker_index: int) -> SimSession:
        """A new session with its port bound (or reserved) on this node, not yet connected."""
