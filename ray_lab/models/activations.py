"""``torch.nn`` activation modules by name (``ReLU``, ``Tanh``, ``ELU``, ...)."""

from __future__ import annotations

import functools
import inspect

from torch import nn
from torch.nn.modules import activation as _torch_activation

from ray_lab.models.errors import RegistryError, did_you_mean

# Classes in torch.nn.modules.activation that are not element-wise activations usable as a layer
# between two Linear layers (they change the shape or need a `dim`).
_NOT_ACTIVATIONS = frozenset({"MultiheadAttention", "GLU", "Softmax", "Softmin", "Softmax2d", "LogSoftmax"})


def _constructible_without_arguments(cls: type) -> bool:
    try:
        parameters = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):
        return False
    return all(
        p.name == "self" or p.default is not inspect.Parameter.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        for p in parameters
    )


@functools.cache
def _activation_classes() -> dict[str, type[nn.Module]]:
    found: dict[str, type[nn.Module]] = {"Identity": nn.Identity}
    for name, obj in vars(_torch_activation).items():
        if (
            inspect.isclass(obj)
            and issubclass(obj, nn.Module)
            and obj.__module__ == _torch_activation.__name__
            and name not in _NOT_ACTIVATIONS
            and _constructible_without_arguments(obj)
        ):
            found[name] = obj
    return found


def available_activations() -> list[str]:
    """Names accepted by :func:`resolve_activation`, sorted."""
    return sorted(_activation_classes())


def resolve_activation(name: str | type[nn.Module]) -> type[nn.Module]:
    """The ``torch.nn`` activation class called ``name`` (case-insensitive, e.g. ``"relu"`` -> ``nn.ReLU``).

    A ``torch.nn.`` or ``nn.`` prefix is ignored. An activation class passed in is returned as is.
    Only element-wise activations that construct without arguments are accepted (SB3 calls
    ``activation_fn()``), plus ``Identity``.

    Raises:
        RegistryError: unknown name, with a did-you-mean suggestion and the accepted names.
    """
    classes = _activation_classes()
    if inspect.isclass(name):
        if name in classes.values():
            return name
        raise RegistryError(
            f"{name.__module__}.{name.__qualname__} is not a supported activation; "
            f"expected one of: {', '.join(available_activations())}"
        )
    if not isinstance(name, str):
        raise RegistryError(f"activation must be a torch.nn class name, got {name!r} ({type(name).__name__})")
    key = name.strip()
    for prefix in ("torch.nn.", "nn."):
        if key.startswith(prefix):
            key = key[len(prefix) :]
    by_lower = {n.lower(): cls for n, cls in classes.items()}
    if key.lower() in by_lower:
        return by_lower[key.lower()]
    raise RegistryError(
        f"unknown activation '{name}'{did_you_mean(key, classes)}; "
        f"expected a torch.nn activation name, one of: {', '.join(available_activations())}"
    )
