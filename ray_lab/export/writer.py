"""Write a trained model's deterministic policy as an ONNX file, with a JSON description beside it."""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm

from ray_lab.export._deps import require_onnx
from ray_lab.export.graph import ObsScaling, PolicyGraph, input_keys
from ray_lab.tracking.artifacts import find_vecnormalize, load_vecnormalize_stats
from ray_lab.tracking.atomic import atomic_path, atomic_write_text

__all__ = ["ACTION_OUTPUT", "EXPORTABLE", "OPSET", "ExportResult", "export_policy", "observation_scaling"]

EXPORTABLE = ("ppo", "a2c", "sac", "td3", "ddpg", "dqn")
ACTION_OUTPUT = "action"
OPSET = 15  # Unity Sentis imports ONNX opsets 7 to 15


@dataclass(frozen=True)
class ExportResult:
    """The ONNX file, its JSON description, and whether VecNormalize statistics were folded in."""

    onnx_path: Path
    json_path: Path
    vecnormalize: bool


def check_exportable(model: BaseAlgorithm) -> None:
    """Raise ValueError unless the model's spaces are ones the graph handles (Box/Dict obs, Box/Discrete actions)."""
    obs = model.observation_space
    subspaces = list(obs.spaces.values()) if isinstance(obs, spaces.Dict) else [obs]
    if not all(isinstance(space, spaces.Box) for space in subspaces):
        raise ValueError(f"export supports Box observations and Dicts of Boxes, not {obs}")
    if not isinstance(model.action_space, spaces.Box | spaces.Discrete):
        raise ValueError(f"export supports Box and Discrete actions, not {model.action_space}")
    if type(model).__name__ in ("PPO", "A2C") and model.policy.squash_output:
        raise ValueError("export does not support PPO/A2C with squash_output (gSDE squashing)")


def observation_scaling(model_zip: Path, keys: list[str]) -> dict[str, ObsScaling | None]:
    """Per input, the VecNormalize observation scaling saved beside `model_zip` (empty when there is none)."""
    stats_path = find_vecnormalize(model_zip)
    if stats_path is None:
        return {}
    stats = load_vecnormalize_stats(stats_path)
    if not stats.norm_obs:
        return {}
    if isinstance(stats.obs_rms, dict):
        normalized = set(stats.norm_obs_keys or [])
        rms = {key: stats.obs_rms[key] for key in keys if key in normalized}
    else:
        rms = {keys[0]: stats.obs_rms}
    return {key: ObsScaling(r.mean, r.var, float(stats.epsilon), float(stats.clip_obs)) for key, r in rms.items()}


def _input_shapes(model: BaseAlgorithm) -> dict[str, tuple[int, ...]]:
    obs = model.observation_space
    if isinstance(obs, spaces.Dict):
        return {key: tuple(obs.spaces[key].shape or ()) for key in input_keys(obs)}
    return {"obs": tuple(obs.shape or ())}


def _write_onnx(graph: PolicyGraph, shapes: dict[str, tuple[int, ...]], path: Path) -> None:
    onnx = require_onnx()
    dummies = tuple(torch.zeros((1, *shape), dtype=torch.float32) for shape in shapes.values())
    axes: dict[str, dict[int, str]] = {name: {0: "batch"} for name in [*shapes, ACTION_OUTPUT]}
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notes
        torch.onnx.export(
            graph.eval(),
            dummies,
            str(tmp),
            input_names=list(shapes),
            output_names=[ACTION_OUTPUT],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,  # the dynamo exporter needs onnxscript, which the export extra does not bring
        )
        onnx.checker.check_model(str(tmp))


def _space_json(space: spaces.Space) -> dict[str, Any]:
    if isinstance(space, spaces.Dict):
        return {"type": "Dict", "spaces": {key: _space_json(sub) for key, sub in space.spaces.items()}}
    if isinstance(space, spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n)}
    assert isinstance(space, spaces.Box)
    return {
        "type": "Box",
        "shape": list(space.shape),
        "dtype": str(space.dtype),
        "low": np.asarray(space.low).tolist(),
        "high": np.asarray(space.high).tolist(),
    }


def describe(
    model: BaseAlgorithm, model_zip: Path, shapes: dict[str, tuple[int, ...]], folded: list[str]
) -> dict[str, Any]:
    """The JSON written beside the ONNX file: inputs, output, spaces, algorithm, what was folded in."""
    discrete = isinstance(model.action_space, spaces.Discrete)
    action_shape = [] if discrete else list(model.action_space.shape or ())
    return {
        "algorithm": type(model).__name__,
        "model": str(model_zip),
        "opset": OPSET,
        "inputs": [{"name": key, "shape": ["batch", *shape], "dtype": "float32"} for key, shape in shapes.items()],
        "outputs": [
            {"name": ACTION_OUTPUT, "shape": ["batch", *action_shape], "dtype": "int64" if discrete else "float32"}
        ],
        "observation_space": _space_json(model.observation_space),
        "action_space": _space_json(model.action_space),
        "vecnormalize_folded": bool(folded),
        "vecnormalize_inputs": folded,
        "deterministic": True,
    }


def export_policy(model: BaseAlgorithm, model_zip: Path, output: Path) -> ExportResult:
    """Write `model`'s `predict(obs, deterministic=True)` as ONNX to `output` and its description to `output`.json.

    VecNormalize statistics found beside `model_zip` are folded into the graph.

    Raises:
        ValueError: the model's algorithm or spaces have no ONNX graph here.
        ImportError: the export extra is not installed.
    """
    check_exportable(model)
    shapes = _input_shapes(model)
    scaling = observation_scaling(model_zip, list(shapes))
    _write_onnx(PolicyGraph(model, scaling), shapes, output)
    folded = sorted(key for key, value in scaling.items() if value is not None)
    json_path = output.with_suffix(".json")
    atomic_write_text(json_path, json.dumps(describe(model, model_zip, shapes, folded), indent=2) + "\n")
    return ExportResult(output, json_path, bool(folded))
