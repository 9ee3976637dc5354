"""Environment construction: picklable env factories.

Small deterministic test envs live in :mod:`ray_lab.envs.testing`; nothing in the product imports
or registers them. A config or a Ray worker names them with their module
(`ray_lab.envs.testing:ray_lab/Sleep-v0`), which gymnasium imports first.
"""

from ray_lab.envs.factory import EnvFactory, make_env_factories

__all__ = ["EnvFactory", "make_env_factories"]
