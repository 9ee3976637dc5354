"""Import guard of the optional export extra: a clear ``ImportError`` naming the install command."""

from __future__ import annotations

from types import ModuleType

__all__ = ["INSTALL_HINT", "require_onnx"]

INSTALL_HINT = "pip install 'ray-lab[export]'"


def require_onnx() -> ModuleType:
    """The `onnx` package (torch's exporter writes through it), or an ImportError naming the extra."""
    try:
        import onnx
    except ImportError as exc:
        raise ImportError(f"ONNX export needs onnx and onnxruntime ({exc}); install them: {INSTALL_HINT}") from exc
    return onnx
