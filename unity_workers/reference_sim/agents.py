"""`Agent`: one independent nav episode of a player (its state, its episode's config, its generator).

A player runs one agent, or ``--agents N`` of them served through the batch services. Each agent
draws its resets from its own generator, so a reset with seed ``s`` gives agent ``i`` the episode
``nav.reset(default_rng(s), cfg)`` whatever the other agents do. Environment parameters apply to
the episode they came with: every reset builds its config anew from the player's defaults.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from . import nav
from .params import episode_config

__all__ = ["Agent", "agent_generator"]


def agent_generator(seed: int | None, index: int) -> np.random.Generator:
    """The generator of agent ``index`` before any seeded reset: ``--seed`` for agent 0 (as a one-agent
    player always had), a distinct stream derived from it for the others (entropy when no seed)."""
    if seed is None:
        return np.random.default_rng()
    return np.random.default_rng(seed if index == 0 else (seed, index))


@dataclass
class Agent:
    """One agent's episode: its state, the config it runs under (defaults + parameters), its generator."""

    state: nav.NavState
    cfg: nav.NavConfig
    rng: np.random.Generator

    @classmethod
    def start(cls, cfg: nav.NavConfig, rng: np.random.Generator) -> Agent:
        """A first episode with the default config ``cfg``, drawn from ``rng``."""
        return cls(nav.reset(rng, cfg), cfg, rng)

    def reset(self, defaults: nav.NavConfig, seed: int | None, parameters: Mapping[str, float]) -> list[str]:
        """Start a new episode (restarting the generator from ``seed`` when given) with ``parameters``
        applied to ``defaults``; returns the errors (rejected parameters, an unplaceable target).

        A ``target_distance`` that finds no place falls back to the episode without it, drawn from
        the same generator, so the same seed and parameters still give the same episode.
        """
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        cfg, errors = episode_config(defaults, parameters)
        try:
            state = nav.reset(self.rng, cfg)
        except ValueError as exc:
            errors.append(f"target_distance {cfg.target_distance} ignored: {exc}")
            cfg = replace(cfg, target_distance=None)
            state = nav.reset(self.rng, cfg)
        self.state, self.cfg = state, cfg
        return errors

    def step(self, action: Sequence[float] | np.ndarray) -> None:
        """One step with ``action`` under this episode's config (see :func:`~.nav.step`).

        Raises:
            ValueError: the action is not 2 finite numbers (the state is unchanged).
        """
        self.state = nav.step(self.state, action, self.cfg)
