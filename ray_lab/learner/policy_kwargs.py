"""``policy_kwargs`` for an SB3 algorithm from the config's architecture section (names -> classes)."""

from __future__ import annotations

import inspect
import logging
from typing import Any

import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.policies import ActorCriticPolicy

from ray_lab.config.schema import ArchitectureSection
from ray_lab.models.activations import resolve_activation
from ray_lab.models.errors import did_you_mean
from ray_lab.models.registry import resolve_extractor

__all__ = [
    "PolicyKwargError",
    "build_policy_kwargs",
    "net_arch_dict_keys",
    "policy_parameter_names",
    "resolve_optimizer",
]

logger = logging.getLogger(__name__)

_NOT_POLICY_KWARGS = frozenset({"self", "observation_space", "action_space", "lr_schedule"})
_SET_BY_SB3_OPTIMIZER = {
    "params": "the policy's parameters",
    "lr": "set training.algorithm_parameters.learning_rate instead (a number or a schedule)",
}
"""Optimizer arguments SB3 passes itself (``optimizer_class(parameters, lr=learning_rate(1), **optimizer_kwargs)``)."""


class PolicyKwargError(ValueError):
    """A problem with one policy kwarg; ``key`` names it under ``policy_kwargs`` (``optimizer_kwargs.lr``)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def _policy_classes(algorithm: type[BaseAlgorithm]) -> list[type]:
    return list(algorithm.policy_aliases.values())


def policy_parameter_names(algorithm: type[BaseAlgorithm]) -> set[str] | None:
    """Keyword arguments accepted by any of the algorithm's policies (``None``: some take ``**kwargs``)."""
    names: set[str] = set()
    for policy in _policy_classes(algorithm):
        for parameter in inspect.signature(policy).parameters.values():
            if parameter.kind is parameter.VAR_KEYWORD:
                return None
            if parameter.kind is not parameter.VAR_POSITIONAL and parameter.name not in _NOT_POLICY_KWARGS:
                names.add(parameter.name)
    return names


def net_arch_dict_keys(algorithm: type[BaseAlgorithm]) -> tuple[str, str] | None:
    """Keys of a per-network ``net_arch`` dict: ``("pi", "vf")`` for on-policy actor-critic policies,
    ``("pi", "qf")`` for off-policy actor-critic ones (SAC, TD3, DDPG, TQC, CrossQ), ``None`` when the
    policy only takes a list (DQN, QR-DQN, ARS)."""
    aliases = algorithm.policy_aliases
    mlp = next((cls for alias, cls in aliases.items() if alias.startswith("Mlp")), None)
    policy = mlp if mlp is not None else next(iter(aliases.values()), None)
    if policy is None:
        return None
    if issubclass(policy, ActorCriticPolicy):
        return ("pi", "vf")
    if hasattr(policy, "make_actor") and hasattr(policy, "make_critic"):
        return ("pi", "qf")
    return None


def _layer_sizes(value: object, where: str) -> list[int]:
    if not isinstance(value, list | tuple) or not all(
        isinstance(size, int) and not isinstance(size, bool) and size > 0 for size in value
    ):
        raise ValueError(f"{where} must be a list of positive layer sizes such as [64, 64], got {value!r}")
    return list(value)


def _check_net_arch(net_arch: object, algorithm: type[BaseAlgorithm]) -> list[int] | dict[str, list[int]]:
    name = algorithm.__name__
    if not isinstance(net_arch, dict):
        return _layer_sizes(net_arch, f"net_arch for {name}")
    keys = net_arch_dict_keys(algorithm)
    actual = sorted(str(k) for k in net_arch)
    if keys is None:
        raise ValueError(
            f"net_arch for {name} must be a list of layer sizes such as [64, 64]; its policy has no separate "
            f"networks, got a dict with keys {actual}"
        )
    if set(net_arch) != set(keys):
        raise ValueError(
            f"net_arch for {name} must be a list of layer sizes or a dict with keys {list(keys)} "
            f"(e.g. {{{keys[0]}: [64, 64], {keys[1]}: [64, 64]}}), got keys {actual}"
        )
    return {key: _layer_sizes(net_arch[key], f"net_arch.{key} for {name}") for key in keys}


def resolve_optimizer(name: str | type[torch.optim.Optimizer]) -> type[torch.optim.Optimizer]:
    """A ``torch.optim`` optimizer class by (case-insensitive) name, e.g. ``"AdamW"``.

    Raises:
        ValueError: unknown name, with a did-you-mean suggestion and the accepted names.
    """
    if inspect.isclass(name) and issubclass(name, torch.optim.Optimizer):
        return name
    optimizers = {
        n: obj
        for n, obj in vars(torch.optim).items()
        if inspect.isclass(obj) and issubclass(obj, torch.optim.Optimizer) and obj is not torch.optim.Optimizer
    }
    if isinstance(name, str):
        key = name.strip().removeprefix("torch.optim.")
        match = next((cls for n, cls in optimizers.items() if n.lower() == key.lower()), None)
        if match is not None:
            return match
        hint = did_you_mean(key, optimizers)
    else:
        hint = ""
    raise ValueError(f"unknown optimizer {name!r}{hint}; expected one of: {', '.join(sorted(optimizers))}")


def _check_optimizer_kwargs(optimizer: type[torch.optim.Optimizer], options: object) -> None:
    """``optimizer_kwargs`` must be a mapping of ``optimizer``'s keyword arguments, less those SB3 passes."""
    if not isinstance(options, dict):
        raise PolicyKwargError(
            "optimizer_kwargs", f"optimizer_kwargs must be a mapping such as {{weight_decay: 0.01}}, got {options!r}"
        )
    parameters = inspect.signature(optimizer).parameters.values()
    accepted = {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    takes_any = any(p.kind is p.VAR_KEYWORD for p in parameters)
    for key in options:
        if key in _SET_BY_SB3_OPTIMIZER:
            raise PolicyKwargError(f"optimizer_kwargs.{key}", f"{key} is set by SB3: {_SET_BY_SB3_OPTIMIZER[key]}")
        if key not in accepted and not takes_any:
            choices = accepted - set(_SET_BY_SB3_OPTIMIZER)
            hint = did_you_mean(str(key), choices) or f" (accepted: {', '.join(sorted(choices))})"
            raise PolicyKwargError(f"optimizer_kwargs.{key}", f"{optimizer.__name__} does not take {key!r}{hint}")


def _resolve_optimizer_kwargs(kwargs: dict[str, Any]) -> None:
    """``optimizer_class`` by name to the class, ``optimizer_kwargs`` checked against it (SB3's default: Adam)."""
    if isinstance(kwargs.get("optimizer_class"), str):
        try:
            kwargs["optimizer_class"] = resolve_optimizer(kwargs["optimizer_class"])
        except ValueError as exc:
            raise PolicyKwargError("optimizer_class", str(exc)) from None
    if kwargs.get("optimizer_kwargs") is not None:
        _check_optimizer_kwargs(kwargs.get("optimizer_class", torch.optim.Adam), kwargs["optimizer_kwargs"])


def _resolve_names(kwargs: dict[str, Any]) -> None:
    """Replace class names given as strings by the classes, in place."""
    if isinstance(kwargs.get("features_extractor_class"), str):
        kwargs["features_extractor_class"] = resolve_extractor(kwargs["features_extractor_class"])
    if isinstance(kwargs.get("activation_fn"), str):
        kwargs["activation_fn"] = resolve_activation(kwargs["activation_fn"])
    _resolve_optimizer_kwargs(kwargs)


def build_policy_kwargs(
    *,
    net_arch: list[int] | dict[str, list[int]] | None,
    features_extractor_class: str | None,
    features_extractor_kwargs: dict[str, Any] | None,
    activation_fn: str | None,
    share_features_extractor: bool | None,
    algorithm: type[BaseAlgorithm],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``policy_kwargs`` for ``algorithm``: names resolved to classes, ``None`` values left out.

    ``extra`` holds further policy keyword arguments (e.g. ``optimizer_kwargs``, ``n_critics``,
    ``log_std_init``); ``features_extractor_class``, ``activation_fn`` and ``optimizer_class`` in it may
    be names too. ``share_features_extractor`` is dropped (with a log warning) when the algorithm's
    policies don't take it (DQN, QR-DQN, ARS).

    Raises:
        ValueError: a ``net_arch`` that doesn't fit the algorithm (the message shows the keys given),
            a key the algorithm's policies don't accept, or a key given both directly and in ``extra``
            with different values.
        PolicyKwargError: an unknown ``optimizer_class`` or an ``optimizer_kwargs`` key it does not take.
        ray_lab.models.errors.RegistryError: an unknown extractor or activation name.
    """
    direct: dict[str, Any] = {
        "net_arch": net_arch,
        "features_extractor_class": features_extractor_class,
        "features_extractor_kwargs": features_extractor_kwargs,
        "activation_fn": activation_fn,
        "share_features_extractor": share_features_extractor,
    }
    kwargs = _merge_extra({key: value for key, value in direct.items() if value is not None}, extra)
    _check_accepted(kwargs, algorithm)
    if "net_arch" in kwargs:
        kwargs["net_arch"] = _check_net_arch(kwargs["net_arch"], algorithm)
    if "features_extractor_kwargs" in kwargs and not isinstance(kwargs["features_extractor_kwargs"], dict):
        raise ValueError(f"features_extractor_kwargs must be a mapping, got {kwargs['features_extractor_kwargs']!r}")
    _resolve_names(kwargs)
    return kwargs


def _merge_extra(kwargs: dict[str, Any], extra: dict[str, Any] | None) -> dict[str, Any]:
    """``kwargs`` with the non-``None`` values of ``extra`` added (in place); a key given twice must agree."""
    for key, value in (extra or {}).items():
        if value is None:
            continue
        if key in kwargs and kwargs[key] != value:
            raise ValueError(
                f"policy kwarg '{key}' is given twice with different values: {kwargs[key]!r} and {value!r}"
            )
        kwargs[key] = value
    return kwargs


def _check_accepted(kwargs: dict[str, Any], algorithm: type[BaseAlgorithm]) -> None:
    """Drop an unaccepted ``share_features_extractor`` (with a warning); refuse any other unaccepted key."""
    accepted = policy_parameter_names(algorithm)
    name = algorithm.__name__
    if accepted is None:
        return
    if "share_features_extractor" in kwargs and "share_features_extractor" not in accepted:
        logger.warning(
            "share_features_extractor=%s ignored: %s policies have a single network",
            kwargs.pop("share_features_extractor"),
            name,
        )
    unknown = [key for key in kwargs if key not in accepted]
    if unknown:
        problems = "; ".join(f"'{key}'{did_you_mean(str(key), accepted)}" for key in unknown)
        raise ValueError(
            f"{name} policies do not accept {problems}; accepted policy kwargs: {', '.join(sorted(accepted))}"
        )


def architecture_policy_kwargs(
    arch: ArchitectureSection, algorithm: type[BaseAlgorithm], extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """`build_policy_kwargs` from the config's `training.architecture` section."""
    return build_policy_kwargs(
        net_arch=arch.net_arch,
        features_extractor_class=arch.features_extractor_class,
        features_extractor_kwargs=arch.features_extractor_kwargs,
        activation_fn=arch.activation_fn,
        share_features_extractor=arch.share_features_extractor,
        algorithm=algorithm,
        extra=extra,
    )
