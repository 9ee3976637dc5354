"""Regenerate the Python code of ``ray_lab_env.proto`` (messages, typing stub, gRPC stubs).

Run from anywhere, after ``pip install grpcio-tools==1.85.1``::

    python unity_workers/grpc_env/generate.py            # rewrite the committed files in place
    python unity_workers/grpc_env/generate.py --out DIR  # write DIR/unity_workers/grpc_env/... instead

The proto is compiled with the repository root as include path, so the generated gRPC module imports
``unity_workers.grpc_env.ray_lab_env_pb2`` by its package path. This script uses only the standard
library and ``grpc_tools``, so it also works when the generated files are missing or broken.
"""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path

__all__ = ["GENERATED", "PROTO", "ROOT", "generate"]

ROOT = Path(__file__).resolve().parents[2]
PROTO = "unity_workers/grpc_env/ray_lab_env.proto"
GENERATED = ("ray_lab_env_pb2.py", "ray_lab_env_pb2.pyi", "ray_lab_env_pb2_grpc.py")
"""The generated files, next to the proto (or under ``<out>/unity_workers/grpc_env/``)."""


def generate(out: Path = ROOT) -> list[Path]:
    """Compile the proto into ``out`` (the repository root by default); returns the generated files.

    Raises:
        ImportError: grpcio-tools is not installed.
        RuntimeError: protoc failed (its messages are on stderr).
    """
    try:
        from grpc_tools import protoc
    except ImportError as exc:
        raise ImportError(
            'regenerating the gRPC env code needs grpcio-tools: pip install "grpcio-tools==1.85.1"'
        ) from exc
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    well_known = resources.files("grpc_tools") / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{ROOT}",
        f"-I{well_known}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        str(ROOT / PROTO),
    ]
    code = protoc.main(args)
    if code != 0:
        raise RuntimeError(f"protoc exited with code {code} for {ROOT / PROTO} (arguments {args[1:]})")
    target = out / Path(PROTO).parent
    return [target / name for name in GENERATED]


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; prints the generated paths."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT, help="output root (default: the repository root)")
    ns = parser.parse_args(argv)
    for path in generate(ns.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
