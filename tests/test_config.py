"""Config loading: the seed schema, overrides, schedules, and one clear line per problem (exit code 2)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ray_lab.cli.main import main
from ray_lab.config import ConfigError
from ray_lab.config.loader import config_to_yaml
from ray_lab.learner.experiment import load_experiment
from ray_lab.learner.schedules import parse_schedule

ROOT = Path(__file__).resolve().parents[1]
SEED_CONFIG = ROOT / "tests" / "data" / "seed_base_ppo_config.yaml"

GOOD = """
experiment: {name: t}
environment: {id: CartPole-v1}
training:
  algorithm: ppo
  algorithm_parameters: {n_steps: 64, learning_rate: lin_0.001, clip_range: lin_0.2}
  architecture: {net_arch: {pi: [32], vf: [32]}, activation_fn: Tanh, features_extractor_class: ResnetMLP}
  training: {total_timesteps: 1000}
"""


def write(tmp_path: Path, text: str, name: str = "cfg.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_load(path: Path) -> None:
    config = load_experiment(path)
    assert config.loop.total_timesteps > 0


def test_seed_pipeline_config_loads_verbatim() -> None:
    config = load_experiment(SEED_CONFIG)
    assert config.experiment.name == "BipedalWalker-Benchmark"
    assert config.environment.env_config is None  # the string 'None' means null
    assert config.training.pretrained_model is None
    assert config.training.architecture.net_arch == {"pi": [128, 128], "vf": [128, 128]}
    assert config.loop.eval.num_episodes == 5 and config.loop.eval.num_evals == 15
    assert config.loop.device == "cuda" and config.loop.verbose == 2
    assert config.evaluation.num_episodes == 1
    assert config.play.experiment == "experiment_date" and config.play.pretrained_model == "model"


def test_quickstart_config_matches_the_embedded_default() -> None:
    embedded = ROOT / "ray_lab" / "defaults" / "quickstart.yaml"
    assert (ROOT / "configs" / "quickstart.yaml").read_text() == embedded.read_text()


def test_overrides_set_any_key_with_yaml_types(tmp_path: Path) -> None:
    config = load_experiment(
        write(tmp_path, GOOD),
        [
            "workers.num_workers=3",
            "training.algorithm_parameters.gamma=0.95",
            "training.architecture.net_arch=[16, 16]",
            "tracking.tags=[a, b]",
            "training.use_wandb=false",
            "training.pretrained_model=None",
        ],
    )
    assert config.workers.num_workers == 3
    assert config.training.algorithm_parameters["gamma"] == 0.95
    assert config.training.architecture.net_arch == [16, 16]
    assert config.tracking.tags == ["a", "b"]
    assert config.training.use_wandb is False
    assert config.training.pretrained_model is None


def test_ray_style_cpu_gpu_in_resources(tmp_path: Path) -> None:
    config = load_experiment(
        write(tmp_path, "workers:\n  resources: {CPU: 1, unity: 1}\nlearner:\n  resources: {GPU: 1}\n")
    )
    assert config.workers.num_cpus == 1 and config.workers.resources == {"unity": 1}
    assert config.learner.num_gpus == 1 and config.learner.resources == {}
    with pytest.raises(ConfigError, match=r"workers: resources\.CPU=1 contradicts num_cpus=0\.5"):
        load_experiment(write(tmp_path, "workers:\n  num_cpus: 0.5\n  resources: {CPU: 1}\n"))


def test_resolved_config_round_trips(tmp_path: Path) -> None:
    config = load_experiment(write(tmp_path, GOOD))
    again = load_experiment(write(tmp_path, config_to_yaml(config), "resolved.yaml"))
    assert again == config


def test_linear_schedules_parse() -> None:
    schedule = parse_schedule("lin_0.001", "training.algorithm_parameters.learning_rate")
    assert callable(schedule)
    assert schedule(1.0) == pytest.approx(0.001) and schedule(0.5) == pytest.approx(0.0005)
    with pytest.raises(ValueError, match="learning_rate"):
        parse_schedule("exp_0.1", "training.algorithm_parameters.learning_rate")


BAD_CASES = {
    "unknown key": ("training:\n  algoritm: ppo\n", "training.algoritm", "did you mean 'algorithm'"),
    "wrong type": ("workers:\n  num_workers: many\n", "workers.num_workers", "expected a valid integer"),
    "unknown algorithm": ("training:\n  algorithm: ppp\n", "training.algorithm", "did you mean 'ppo'"),
    "unknown hyperparameter": (
        "training:\n  algorithm_parameters: {learning_rat: 0.1}\n",
        "training.algorithm_parameters.learning_rat",
        "did you mean 'learning_rate'",
    ),
    "unknown extractor": (
        "training:\n  architecture: {features_extractor_class: ResnetMLPP}\n",
        "training.architecture.features_extractor_class",
        "ResnetMLP",
    ),
    "unknown activation": (
        "training:\n  architecture: {activation_fn: Relu6x}\n",
        "training.architecture.activation_fn",
        "ReLU6",
    ),
    "bad schedule": (
        "training:\n  algorithm_parameters: {learning_rate: lin_fast}\n",
        "training.algorithm_parameters.learning_rate",
        "lin_",
    ),
    "unknown env id": ("environment:\n  id: CartPole-v9\n", "environment.id", "did you mean 'CartPole-v1'"),
    "yaml syntax": ("training:\n  algorithm: [ppo\n", ":3:", "YAML syntax error"),
    "empty file": ("", "", "the file is empty"),
    "only comments": ("# training:\n#   algorithm: ppo\n", "", "the file is empty (or holds only comments)"),
    "top level is a list": ("- environment\n- training\n", "", "expected a mapping of sections at the top"),
    "top level is a string": ("CartPole-v1\n", "", "got str 'CartPole-v1'"),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_config_exits_2_naming_file_and_key(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    text, key, hint = BAD_CASES[case]
    path = write(tmp_path, text)
    code = main(["train", "--config", str(path), "--set", f"experiment.output_dir={tmp_path / 'out'}"])
    err = capsys.readouterr().err
    assert code == 2
    problem_lines = [line for line in err.splitlines() if str(path) in line]
    assert problem_lines, err
    assert any(key in line and hint in line for line in problem_lines), err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "experiments").exists()


def test_every_problem_is_reported_not_only_the_first(tmp_path: Path) -> None:
    path = write(tmp_path, "workers: {num_workers: 0, envs_per_worker: x}\ntracking: {projekt: a}\n")
    with pytest.raises(ConfigError) as info:
        load_experiment(path)
    keys = {p.key for p in info.value.problems}
    assert keys == {"workers.num_workers", "workers.envs_per_worker", "tracking.projekt"}


def test_bad_override_is_blamed_on_set(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_experiment(write(tmp_path, GOOD), ["workers.num_wokers=2"])
    (problem,) = info.value.problems
    assert problem.source.startswith("--set") and problem.key == "workers.num_wokers"
    assert "did you mean 'num_workers'" in problem.message
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        load_experiment(write(tmp_path, GOOD), ["workers.num_workers"])


def test_missing_file_exits_2_in_a_real_process(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    result = subprocess.run(
        [sys.executable, "-m", "ray_lab", "train", "--config", str(missing)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 2
    assert str(missing) in result.stderr and "not found" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "experiments").exists()


def test_empty_sweep_spec_is_a_config_error(tmp_path: Path) -> None:
    from ray_lab.tune.load import load_sweep

    spec = tmp_path / "sweep.yaml"
    spec.write_text("# to do: the search space\n")
    with pytest.raises(ConfigError, match="the file is empty") as info:
        load_sweep(spec)
    assert info.value.problems[0].source == str(spec)


def test_the_preflight_builds_one_env_and_names_its_key(tmp_path: Path) -> None:
    path = write(tmp_path, "environment: {id: CartPole-v1, env_config: {no_such_kwarg: 1}}\n")
    assert load_experiment(path).environment.env_config == {"no_such_kwarg": 1}  # the schema and checks pass
    with pytest.raises(ConfigError) as info:
        load_experiment(path, run_preflight=True)
    (problem,) = info.value.problems
    assert problem.key == "environment.env_config" and "no_such_kwarg" in problem.message
    assert problem.source == str(path)


def test_sweeps_and_set_share_one_dotted_key_setter(tmp_path: Path) -> None:
    """`--set a.b=1` where `a` is a value is an error naming the key, for overrides and sweep trials alike."""
    from ray_lab.config.loader import set_dotted

    path = write(tmp_path, "experiment: {name: x}\n")
    with pytest.raises(ConfigError, match=r"'experiment\.name' is a value, not a section"):
        load_experiment(path, ["experiment.name.sub=1"])
    data: dict[str, Any] = {"experiment": {"name": "x"}}
    with pytest.raises(ConfigError) as info:
        set_dotted(data, "experiment.name.sub", 1, "spec.yaml")
    assert info.value.problems[0].source == "spec.yaml"
    set_dotted(data, "training.algorithm_parameters.n_steps", 64)
    assert data["training"] == {"algorithm_parameters": {"n_steps": 64}}
