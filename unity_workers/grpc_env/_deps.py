"""Import guard of the optional gRPC extra: a clear ``ImportError`` naming the install command."""

from __future__ import annotations

__all__ = ["INSTALL_HINT"]

INSTALL_HINT = 'pip install "ray-lab[grpc]"'

try:
    import google.protobuf  # noqa: F401
    import grpc  # noqa: F401

    from . import ray_lab_env_pb2, ray_lab_env_pb2_grpc  # noqa: F401
except ImportError as exc:
    raise ImportError(f"the gRPC env protocol needs grpcio and protobuf ({exc}); install them: {INSTALL_HINT}") from exc
except Exception as exc:  # the generated code refuses a grpcio or protobuf older than the one it was made with
    raise ImportError(f"the gRPC env protocol needs newer grpcio/protobuf ({exc}); install: {INSTALL_HINT}") from exc
