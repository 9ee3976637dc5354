"""ray-lab: Ray env-worker actors feeding a centralized Stable-Baselines3 learner."""

__version__ = "0.1.0"
