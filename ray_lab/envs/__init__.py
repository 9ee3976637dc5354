"""Environment construction: picklable env factories and ray-lab's own registered envs."""

from ray_lab.envs import testing as _testing  # noqa: F401  (registers ray_lab/* env ids)
from ray_lab.envs.factory import EnvFactory, make_env_factories

__all__ = ["EnvFactory", "make_env_factories"]
