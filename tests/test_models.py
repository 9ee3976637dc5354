"""Feature extractors and the extractor / activation registry, with real SB3 classes."""

from __future__ import annotations

import importlib
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3.common.preprocessing import preprocess_obs
from stable_baselines3.common.torch_layers import (
    BaseFeaturesExtractor as SB3BaseFeaturesExtractor,
)
from stable_baselines3.common.torch_layers import CombinedExtractor, FlattenExtractor, NatureCNN
from torch import nn

import ray_lab.models.feature_extractors as extractor_package
from ray_lab.models import (
    RegistryError,
    ResnetMLP,
    available_activations,
    available_extractors,
    resolve_activation,
    resolve_extractor,
)
from ray_lab.models.feature_extractors.base_extractor import BaseFeaturesExtractor


def _forward(extractor: SB3BaseFeaturesExtractor, space: spaces.Space, batch: int = 3) -> torch.Tensor:
    samples = [space.sample() for _ in range(batch)]
    if isinstance(space, spaces.Dict):
        obs: dict[str, torch.Tensor] | torch.Tensor = {
            key: torch.as_tensor(np.stack([s[key] for s in samples])) for key in space.spaces
        }
    else:
        obs = torch.as_tensor(np.stack(samples))
    with torch.no_grad():
        return extractor(preprocess_obs(obs, space))  # type: ignore[arg-type]


IMAGE = spaces.Box(0, 255, shape=(3, 64, 64), dtype=np.uint8)
VECTOR = spaces.Box(-1.0, 1.0, shape=(6,), dtype=np.float32)


@pytest.mark.parametrize(
    ("space", "kwargs"),
    [
        (VECTOR, {}),
        (
            spaces.Box(-1.0, 1.0, shape=(3, 5, 2), dtype=np.float32),
            {"layer_norm": True, "activation_fn": "Tanh"},
        ),
        (VECTOR, {"features_dim": 16, "num_blocks": 0, "activation_fn": nn.ELU}),
        (spaces.Discrete(4), {"features_dim": 8, "num_blocks": 3}),
    ],
)
def test_resnet_mlp_forward(space: spaces.Space, kwargs: dict[str, object]) -> None:
    extractor = ResnetMLP(space, **kwargs)  # type: ignore[arg-type]
    out = _forward(extractor, space)
    assert out.shape == (3, kwargs.get("features_dim", 128))
    assert torch.isfinite(out).all()
    assert len(extractor.blocks) == kwargs.get("num_blocks", 2)
    assert any(isinstance(m, nn.LayerNorm) for m in extractor.modules()) == bool(kwargs.get("layer_norm"))


def test_resnet_mlp_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="CombinedExtractor"):
        ResnetMLP(spaces.Dict({"a": VECTOR}))
    with pytest.raises(ValueError, match=r"features_dim.*0"):
        ResnetMLP(VECTOR, features_dim=0)
    with pytest.raises(ValueError, match=r"num_blocks.*-1"):
        ResnetMLP(VECTOR, num_blocks=-1)
    with pytest.raises(RegistryError, match="did you mean 'Tanh'"):
        ResnetMLP(VECTOR, activation_fn="Tanhh")


@pytest.mark.parametrize(
    ("name", "space", "expected"),
    [
        ("ResnetMLP", VECTOR, ResnetMLP),
        ("resnetmlp", VECTOR, ResnetMLP),
        ("NatureCNN", IMAGE, NatureCNN),
        ("FlattenExtractor", VECTOR, FlattenExtractor),
        ("CombinedExtractor", spaces.Dict({"image": IMAGE, "vec": VECTOR}), CombinedExtractor),
    ],
)
def test_builtin_extractors_resolve_and_run(name: str, space: spaces.Space, expected: type) -> None:
    cls = resolve_extractor(name)
    assert cls is expected
    extractor = cls(space)
    out = _forward(extractor, space)
    assert out.shape == (3, extractor.features_dim)
    assert name in available_extractors() or name.lower() == "resnetmlp"


def test_base_extractor_is_sb3_class() -> None:
    assert BaseFeaturesExtractor is SB3BaseFeaturesExtractor
    assert extractor_package.BaseFeaturesExtractor is SB3BaseFeaturesExtractor


USER_MODULE = """
import torch
from torch import nn
from ray_lab.models.feature_extractors.base_extractor import BaseFeaturesExtractor

class {name}(BaseFeaturesExtractor):
    def __init__(self, observation_space, features_dim=7):
        super().__init__(observation_space, features_dim)
        self.net = nn.Sequential(nn.Flatten(), nn.LazyLinear(features_dim))

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return self.net(observations)

class NotAnExtractor:
    pass
"""


def test_dotted_path_finds_user_extractor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = f"user_ext_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(USER_MODULE.format(name="MyExtractor"))
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        for path in (f"{module}:MyExtractor", f"{module}.MyExtractor"):
            cls = resolve_extractor(path)
            assert cls.__name__ == "MyExtractor"
            assert _forward(cls(VECTOR), VECTOR).shape == (3, 7)
        with pytest.raises(RegistryError, match=r"not a subclass of .*BaseFeaturesExtractor"):
            resolve_extractor(f"{module}:NotAnExtractor")
        with pytest.raises(RegistryError, match="did you mean 'MyExtractor'"):
            resolve_extractor(f"{module}:MyExtractr")
    finally:
        sys.modules.pop(module, None)


def test_dotted_path_import_errors_are_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = f"broken_ext_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text("import this_package_does_not_exist_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        with pytest.raises(RegistryError, match=r"cannot import module.*this_package_does_not_exist_xyz"):
            resolve_extractor(f"{module}:Anything")
        with pytest.raises(RegistryError, match="No module named 'no_such_pkg_q'"):
            resolve_extractor("no_such_pkg_q.mod:Cls")
    finally:
        sys.modules.pop(module, None)


@pytest.fixture
def dropped_modules() -> Iterator[list[Path]]:
    """Module files written into ray_lab/models/feature_extractors/ by a test, removed afterwards."""
    folder = Path(extractor_package.__file__).parent
    written: list[Path] = []
    yield written
    for path in written:
        path.unlink(missing_ok=True)
        sys.modules.pop(f"{extractor_package.__name__}.{path.stem}", None)
        for cached in (folder / "__pycache__").glob(f"{path.stem}.*"):
            cached.unlink(missing_ok=True)
    importlib.invalidate_caches()


def test_class_dropped_in_package_is_found_by_name(dropped_modules: list[Path]) -> None:
    folder = Path(extractor_package.__file__).parent
    tag = uuid.uuid4().hex[:8]
    class_name = f"DroppedExtractor{tag}"
    good = folder / f"zz_test_dropped_{tag}.py"
    broken = folder / f"zz_test_broken_{tag}.py"
    dropped_modules += [good, broken]
    broken.write_text("raise RuntimeError('boom from a broken user module')\n")
    good.write_text(textwrap.dedent(USER_MODULE.format(name=class_name)))

    cls = resolve_extractor(class_name)
    assert cls.__name__ == class_name
    assert _forward(cls(VECTOR), VECTOR).shape == (3, 7)
    assert class_name in available_extractors()
    assert "NotAnExtractor" not in available_extractors()

    with pytest.raises(RegistryError) as excinfo:
        resolve_extractor(f"DroppedExtractr{tag}")
    message = str(excinfo.value)
    assert f"did you mean '{class_name}'" in message
    assert f"zz_test_broken_{tag}" in message and "boom from a broken user module" in message


@pytest.mark.parametrize(
    ("bad", "suggestion"), [("ResnetMLp2", "ResnetMLP"), ("NatureCN", "NatureCNN"), ("Flatten", None)]
)
def test_unknown_extractor_suggests(bad: str, suggestion: str | None) -> None:
    with pytest.raises(RegistryError) as excinfo:
        resolve_extractor(bad)
    message = str(excinfo.value)
    assert f"'{bad}'" in message and "NatureCNN" in message and "package.module:ClassName" in message
    if suggestion is not None:
        assert f"did you mean '{suggestion}'?" in message
    assert isinstance(excinfo.value, LookupError)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("ReLU", nn.ReLU),
        ("relu", nn.ReLU),
        ("tanh", nn.Tanh),
        ("ELU", nn.ELU),
        ("leakyrelu", nn.LeakyReLU),
        ("GELU", nn.GELU),
        ("silu", nn.SiLU),
        ("torch.nn.Tanh", nn.Tanh),
        ("Identity", nn.Identity),
    ],
)
def test_resolve_activation(name: str, expected: type[nn.Module]) -> None:
    assert resolve_activation(name) is expected


@pytest.mark.parametrize(
    ("bad", "needle"),
    [
        ("Tanhh", "did you mean 'Tanh'?"),
        ("LeakyRelu6", "did you mean"),
        ("MultiheadAttention", "unknown activation 'MultiheadAttention'"),
        ("Softmax", "unknown activation 'Softmax'"),
        ("Linear", "unknown activation 'Linear'"),
    ],
)
def test_resolve_activation_errors(bad: str, needle: str) -> None:
    with pytest.raises(RegistryError, match=r"expected a torch.nn activation") as excinfo:
        resolve_activation(bad)
    assert needle in str(excinfo.value)
    assert "ReLU" in available_activations()
