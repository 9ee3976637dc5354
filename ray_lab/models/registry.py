"""Feature-extractor and activation lookup by name.

A features-extractor name in a config is one of:

* a built-in: ``ResnetMLP``, ``NatureCNN``, ``FlattenExtractor``, ``CombinedExtractor``;
* the class name of a ``BaseFeaturesExtractor`` subclass defined in a module placed in
  ``ray_lab/models/feature_extractors/`` (every module there is imported to find it);
* a dotted path ``package.module:ClassName`` or ``package.module.ClassName``.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import cast

from stable_baselines3.common.torch_layers import CombinedExtractor, FlattenExtractor, NatureCNN

from ray_lab.models.errors import RegistryError, did_you_mean
from ray_lab.models.feature_extractors.base_extractor import BaseFeaturesExtractor
from ray_lab.models.feature_extractors.resnet_mlp import ResnetMLP

__all__ = [
    "BUILTIN_EXTRACTORS",
    "EXTRACTOR_PACKAGE",
    "available_extractors",
    "discover_extractors",
    "resolve_extractor",
]

EXTRACTOR_PACKAGE = "ray_lab.models.feature_extractors"
"""The package whose modules are scanned for user extractors."""

BUILTIN_EXTRACTORS: Mapping[str, type[BaseFeaturesExtractor]] = MappingProxyType(
    {
        "ResnetMLP": ResnetMLP,
        "NatureCNN": NatureCNN,
        "FlattenExtractor": FlattenExtractor,
        "CombinedExtractor": CombinedExtractor,
    }
)
"""Extractors known without scanning, by name."""

_DOTTED_HINT = "a dotted path 'package.module:ClassName'"


@dataclass
class _Scan:
    """What importing every module of the extractor package found."""

    found: dict[str, list[type[BaseFeaturesExtractor]]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)


def _is_extractor_class(obj: object) -> bool:
    return inspect.isclass(obj) and issubclass(obj, BaseFeaturesExtractor) and obj is not BaseFeaturesExtractor


def _scan_package() -> _Scan:
    """Import every module of :data:`EXTRACTOR_PACKAGE`; a module that fails is recorded, not raised."""
    scan = _Scan()
    importlib.invalidate_caches()  # see modules written since the last scan
    package = importlib.import_module(EXTRACTOR_PACKAGE)
    for info in sorted(
        pkgutil.iter_modules(package.__path__, prefix=f"{EXTRACTOR_PACKAGE}."), key=lambda info: info.name
    ):
        try:
            module = importlib.import_module(info.name)
        except Exception as exc:  # any error in a user module must not hide the others
            scan.failures[info.name] = f"{type(exc).__name__}: {exc}"
            continue
        for name, obj in vars(module).items():
            if _is_extractor_class(obj) and obj.__module__ == module.__name__:
                scan.found.setdefault(name, []).append(obj)
    return scan


def discover_extractors() -> dict[str, type[BaseFeaturesExtractor]]:
    """``BaseFeaturesExtractor`` subclasses defined in modules of ``ray_lab/models/feature_extractors/``.

    Names defined in more than one module are left out (name them by dotted path instead); modules
    that fail to import are skipped.
    """
    return {name: classes[0] for name, classes in _scan_package().found.items() if len(classes) == 1}


def available_extractors() -> list[str]:
    """Built-in extractor names followed by the (sorted) class names found in the extractor package."""
    discovered = sorted(set(discover_extractors()) - set(BUILTIN_EXTRACTORS))
    return [*BUILTIN_EXTRACTORS, *discovered]


def _check_extractor(obj: object, name: str) -> type[BaseFeaturesExtractor]:
    if obj is BaseFeaturesExtractor:
        raise RegistryError(f"features extractor '{name}' is the abstract BaseFeaturesExtractor; name a subclass")
    if not _is_extractor_class(obj):
        what = f"class {obj.__module__}.{obj.__qualname__}" if inspect.isclass(obj) else repr(obj)
        raise RegistryError(
            f"features extractor '{name}' resolves to {what}, which is not a subclass of "
            "stable_baselines3.common.torch_layers.BaseFeaturesExtractor"
        )
    return cast(type[BaseFeaturesExtractor], obj)


def _resolve_dotted(path: str) -> type[BaseFeaturesExtractor]:
    if ":" in path:
        module_name, _, attribute = path.partition(":")
    else:
        module_name, _, attribute = path.rpartition(".")
    module_name, attribute = module_name.strip(), attribute.strip()
    if not module_name or not attribute:
        raise RegistryError(f"features extractor path '{path}' must look like 'package.module:ClassName'")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise RegistryError(
            f"features extractor '{path}': cannot import module '{module_name}': {type(exc).__name__}: {exc}"
        ) from exc
    obj: object = module
    for part in attribute.split("."):
        if not hasattr(obj, part):
            candidates = [n for n, v in vars(module).items() if _is_extractor_class(v)] or [
                n for n in vars(module) if not n.startswith("_")
            ]
            raise RegistryError(
                f"features extractor '{path}': module '{module_name}' has no attribute '{attribute}'"
                f"{did_you_mean(attribute, candidates)}"
            )
        obj = getattr(obj, part)
    return _check_extractor(obj, path)


def resolve_extractor(name: str) -> type[BaseFeaturesExtractor]:
    """The features-extractor class called ``name`` (see the module docstring for accepted forms).

    Plain names match exactly first, then case-insensitively when that is unambiguous.

    Raises:
        RegistryError: unknown name (with a did-you-mean suggestion, the accepted names, and the modules
            of the extractor package that failed to import), a dotted path whose module does not import
            (with the import error), or a class that is not a ``BaseFeaturesExtractor`` subclass.
    """
    if not isinstance(name, str) or not name.strip():
        raise RegistryError(f"features extractor must be a non-empty class name or {_DOTTED_HINT}, got {name!r}")
    key = name.strip()
    if ":" in key or "." in key:
        return _resolve_dotted(key)
    if key in BUILTIN_EXTRACTORS:
        return BUILTIN_EXTRACTORS[key]

    scan = _scan_package()
    candidates: dict[str, list[type[BaseFeaturesExtractor]]] = {n: [c] for n, c in BUILTIN_EXTRACTORS.items()}
    for found_name, classes in scan.found.items():
        candidates.setdefault(found_name, classes)
    matches = candidates.get(key)
    if matches is None:
        folded = [n for n in candidates if n.lower() == key.lower()]
        if len(folded) == 1:
            matches = candidates[folded[0]]
    if matches is not None:
        if len(matches) > 1:
            paths = ", ".join(f"'{c.__module__}:{c.__qualname__}'" for c in matches)
            raise RegistryError(f"features extractor '{key}' is defined in several modules: {paths}; name one")
        return matches[0]

    raise _unknown_extractor(key, candidates, scan.failures)


def _unknown_extractor(key: str, candidates: Mapping[str, object], failures: Mapping[str, str]) -> RegistryError:
    """The error for an unknown extractor name: a suggestion, the accepted names, the modules that failed to import."""
    names = [*BUILTIN_EXTRACTORS, *sorted(set(candidates) - set(BUILTIN_EXTRACTORS))]
    message = (
        f"unknown features extractor '{key}'{did_you_mean(key, names)}; expected one of: "
        f"{', '.join(names)}, a BaseFeaturesExtractor subclass in ray_lab/models/feature_extractors/, "
        f"or {_DOTTED_HINT}"
    )
    if failures:
        failed = "; ".join(f"{module}: {error}" for module, error in failures.items())
        message += f". Modules in {EXTRACTOR_PACKAGE} that failed to import: {failed}"
    return RegistryError(message)
