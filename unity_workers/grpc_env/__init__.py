"""gRPC env protocol: a small language-neutral env protocol (spec/reset/step/render) for simulators without ROS.

``ray_lab_env.proto`` (package ``ray_lab.env.v1``) defines the service; arrays travel as raw
little-endian tensors, never pickled. Modules: :mod:`.tensors` and :mod:`.spaces` (conversions,
strictly checked), :mod:`.server` (:func:`serve` any Python ``gymnasium.Env``), :mod:`.session`
(:class:`GrpcSession`, the client side for ``UnityEnv``), :mod:`.generate` (regenerate the code).

An optional extra: importing this package without grpcio and protobuf raises ``ImportError``
naming the install command.
"""

from __future__ import annotations

from ._deps import INSTALL_HINT  # first: the import guard of the optional extra
from .protocol import DEFAULT_HOST, DEFAULT_MAX_MESSAGE_BYTES, PROTOCOL_VERSION
from .server import EnvServer, EnvServicer, serve
from .session import GrpcSession, GrpcSessionFactory
from .spaces import action_to_array, check_action, space_from_proto, space_to_proto
from .tensors import DTYPES, from_tensor, to_tensor

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_MAX_MESSAGE_BYTES",
    "DTYPES",
    "INSTALL_HINT",
    "PROTOCOL_VERSION",
    "EnvServer",
    "EnvServicer",
    "GrpcSession",
    "GrpcSessionFactory",
    "action_to_array",
    "check_action",
    "from_tensor",
    "serve",
    "space_from_proto",
    "space_to_proto",
    "to_tensor",
]
