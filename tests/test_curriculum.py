"""`environment.curriculum`: config checks, lesson progress over evaluation rounds, sweepable thresholds,
and a real `ray-lab train` that advances a lesson on its success rate, is killed, and resumes in that lesson."""

from __future__ import annotations

import contextlib
import csv
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from ray_lab.config.errors import ConfigError
from ray_lab.config.loader import parse_config
from ray_lab.config.parameters import CurriculumSection
from ray_lab.evaluation.callback import EvalHistory, read_eval_history
from ray_lab.evaluation.curriculum import Curriculum, LessonPosition
from ray_lab.evaluation.seeded import EpisodeResults
from ray_lab.tune.report import best_config_yaml
from ray_lab.tune.results import ConfigRanking
from ray_lab.tune.space import derive_trial

TARGET = "ray_lab.envs.testing:ray_lab/Target-v0"
LESSONS: list[dict[str, Any]] = [
    {"name": "at-the-target", "until": {"metric": "success_rate", "threshold": 1.0}},  # any action succeeds
    {
        "name": "out-of-reach",  # no episode succeeds
        "parameters": {"target_distance": {"sampler": "uniform", "low": 50, "high": 60}},
        "until": {"metric": "success_rate", "threshold": 0.5, "rounds": 2},
    },
    {"name": "last", "parameters": {"target_distance": 1.0}},
]
TOTAL = 2048  # 4 eval rounds and 4 checkpoints, one every 512 steps (4 envs x n_steps 32 divide it)
CONFIG: dict[str, Any] = {
    "experiment": {"name": "curriculum"},
    "environment": {
        "id": TARGET,
        "parameters": {"target_distance": 0.0, "max_steps": 8},
        "curriculum": {"lessons": LESSONS},
    },
    "training": {
        "use_wandb": False,
        "algorithm_parameters": {"n_steps": 32, "batch_size": 64, "n_epochs": 1},
        "training": {
            "total_timesteps": TOTAL,
            "log_points": 4,
            "seed": 3,
            "eval": {"num_evals": 4, "num_episodes": 3, "seed": 100},
        },
    },
    "workers": {"num_workers": 2, "envs_per_worker": 2, "eval_envs_per_worker": 3},
}


def write_config(folder: Path, data: dict[str, Any] = CONFIG, name: str = "curriculum.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def results(success: float | None, mean_return: float = 0.0) -> EpisodeResults:
    """One round of 4 episodes with the given success rate (None: no `is_success` reported)."""
    successes = None if success is None else [i < round(4 * success) for i in range(4)]
    return EpisodeResults([0, 1, 2, 3], [mean_return] * 4, [5] * 4, successes)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ lesson progress


def test_a_lesson_completes_after_its_rounds_in_a_row() -> None:
    curriculum = Curriculum(CurriculumSection.model_validate({"lessons": LESSONS}), LessonPosition(1, 0))
    met = curriculum.observe(results(0.5))
    assert (met.lesson, met.rounds_met, met.completed) == (1, 1, False)
    missed = curriculum.observe(results(0.25))  # not in a row: counting starts again
    assert (missed.rounds_met, missed.completed, curriculum.position) == (0, False, LessonPosition(1, 0))
    curriculum.observe(results(0.75))
    done = curriculum.observe(results(1.0))
    assert (done.lesson, done.rounds_met, done.completed) == (1, 2, True)
    assert curriculum.position == LessonPosition(2, 0) and curriculum.name == "last"
    line = curriculum.describe(done, 4096)
    assert "lesson 1 'out-of-reach' completed at 4096 timesteps" in line and "now lesson 2 'last' (3 of 3)" in line
    final = curriculum.observe(results(1.0))  # the last lesson runs to the end
    assert (final.lesson, final.completed, curriculum.lesson) == (2, False, 2)


def test_mean_return_rules_and_rounds_without_success_reports() -> None:
    lessons = [
        {"name": "a", "parameters": {"x": 1}, "until": {"metric": "eval/mean_return", "threshold": 10}},
        {"name": "b", "parameters": {"x": 2}},
    ]
    curriculum = Curriculum(CurriculumSection.model_validate({"lessons": lessons}))
    assert not curriculum.observe(results(None, mean_return=9.9)).completed
    assert curriculum.observe(results(None, mean_return=10.0)).completed
    waiting = Curriculum(CurriculumSection.model_validate({"lessons": LESSONS}))
    assert waiting.observe(results(None)).value is None and waiting.lesson == 0  # never met without is_success


def test_the_position_is_read_back_from_evaluations_csv_and_merged(tmp_path: Path) -> None:
    path = tmp_path / "evaluations.csv"
    head = "round,timesteps,mean_return,curriculum/lesson,curriculum/rounds_met,curriculum/completed"
    path.write_text(f"{head}\n1,100,9.0,0,1,0\n2,200,8.0,0,2,1\n3,300,2.0,1,1,0\n4,400,3.0,1,0,0\n5,5")
    history = read_eval_history(path)
    assert history == EvalHistory(5, 3.0, 400, lesson=1, rounds_met=0)  # the best of the lesson reached
    path.write_text(f"{head}\n1,100,9.0,0,1,0\n2,200,8.0,0,2,1\n")
    assert read_eval_history(path) == EvalHistory(2, float("-inf"), 200, lesson=1, rounds_met=0)
    checkpoint = EvalHistory(2, 5.0, 200, lesson=0, rounds_met=1)
    assert read_eval_history(path).merged(checkpoint).position == LessonPosition(0, 1)  # a tie: the checkpoint's
    assert history.merged(checkpoint) == EvalHistory(5, 3.0, 400, lesson=1, rounds_met=0)  # else the later record


# ------------------------------------------------------------------------------ config checks


def curriculum_config(lessons: list[dict[str, Any]], **environment: Any) -> dict[str, Any]:
    env = {"id": TARGET, "parameters": {"target_distance": 0.0}, "curriculum": {"lessons": lessons}, **environment}
    return {"environment": env}


BAD_CURRICULA: dict[str, tuple[dict[str, Any], str, str]] = {
    "no evaluation rounds": (
        {**curriculum_config(LESSONS), "training": {"training": {"eval": {"num_evals": 0}}}},
        "environment.curriculum",
        "set training.training.eval.num_evals to 1 or more",
    ),
    "unknown metric": (
        curriculum_config([{**LESSONS[0], "until": {"metric": "reward", "threshold": 1}}, LESSONS[2]]),
        "environment.curriculum.lessons.0.until.metric",
        "'success_rate' or 'mean_return'",
    ),
    "success rate above 1": (
        curriculum_config([{**LESSONS[0], "until": {"metric": "success_rate", "threshold": 80}}, LESSONS[2]]),
        "environment.curriculum.lessons.0.until",
        "between 0 and 1",
    ),
    "a lesson without a rule": (
        curriculum_config([{"name": "a"}, LESSONS[2]]),
        "environment.curriculum.lessons.0",
        "has no `until` rule",
    ),
    "a rule on the last lesson": (
        curriculum_config([LESSONS[0]]),
        "environment.curriculum.lessons.0.until",
        "runs to the end of training",
    ),
    "a parameter only some lessons set": (
        curriculum_config([{**LESSONS[0], "parameters": {"speed": 2}}, LESSONS[2]]),
        "environment.curriculum.lessons.1.parameters",
        "add `environment.parameters.speed: VALUE` or set it in every lesson",
    ),
    "no parameters at all": (
        curriculum_config([LESSONS[0], {"name": "b"}], parameters={}),
        "environment.curriculum.lessons",
        "no lesson sets a parameter",
    ),
    "twice the same name": (
        curriculum_config([LESSONS[0], {**LESSONS[2], "name": "at-the-target"}]),
        "environment.curriculum.lessons",
        "distinct",
    ),
    "a bad sampler in a lesson": (
        curriculum_config([LESSONS[0], {"name": "b", "parameters": {"target_distance": {"sampler": "uniform"}}}]),
        "environment.curriculum.lessons.1.parameters.target_distance.low",
        "Field required",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CURRICULA))
def test_bad_curriculum_is_a_config_error_naming_its_key(case: str, tmp_path: Path) -> None:
    data, key, hint = BAD_CURRICULA[case]
    path = write_config(tmp_path, data)
    with pytest.raises(ConfigError) as info:
        parse_config(path)
    keyed = [p for p in info.value.problems if p.key == key and p.source == str(path)]
    assert keyed and hint in keyed[0].message, info.value.problems


def test_a_threshold_is_set_by_its_list_index(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    key = "environment.curriculum.lessons.1.until.threshold"
    config = parse_config(path, [f"{key}=0.25"]).config
    assert config.environment.curriculum is not None
    assert config.environment.curriculum.lessons[1].until.threshold == 0.25  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match=r"'environment\.curriculum\.lessons' is a list of 3; '7' is not an index"):
        parse_config(path, ["environment.curriculum.lessons.7.until.threshold=0.25"])


def test_a_sweep_tunes_a_lesson_threshold(tmp_path: Path) -> None:
    from ray_lab.tune.load import load_sweep

    key = "environment.curriculum.lessons.1.until.threshold"
    write_config(tmp_path)
    spec = {"name": "thresholds", "base": "curriculum.yaml", "space": {key: {"choice": [0.6, 0.9]}}}
    loaded = load_sweep(write_config(tmp_path, spec, "spec.yaml"))
    assert loaded.sample.environment.curriculum.lessons[1].until.threshold == 0.6  # type: ignore[union-attr]
    trial = derive_trial(loaded.checked, {key: 0.9}, 5, loaded.source)
    assert trial.environment.curriculum.lessons[1].until.threshold == 0.9  # type: ignore[union-attr]
    assert trial.loop.seed == 5 and trial.environment.parameters == loaded.checked.environment.parameters

    ranking = ConfigRanking({key: 0.9}, "k", ("t0",), (None,), ("TERMINATED",), (1.0,), 1.0, 0.0, 1)
    best = yaml.safe_load(best_config_yaml(loaded.base, ranking, "best"))
    assert best["environment"]["curriculum"]["lessons"][1]["until"]["threshold"] == 0.9

    spec["space"] = {key: {"choice": [0.5, 1.5]}}
    with pytest.raises(ConfigError) as info:
        load_sweep(write_config(tmp_path, spec, "bad_spec.yaml"))
    (problem,) = info.value.problems
    assert problem.key == f"space.{key}" and "between 0 and 1, got 1.5" in problem.message


# ------------------------------------------------------------------------------ a real training, killed and resumed


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


@pytest.fixture(scope="module")
def resumed_run(tmp_path_factory: pytest.TempPathFactory, ray_env_module: dict[str, str]) -> Iterator[dict[str, Any]]:
    """Train until the first checkpoint (the first lesson is complete by then), SIGKILL, resume with the CLI."""
    work = tmp_path_factory.mktemp("curriculum")
    out = work / "out"
    args = [sys.executable, "-m", "ray_lab", "train", "--config", str(write_config(work))]
    first_log = work / "first.log"
    with first_log.open("w") as stream:
        proc = subprocess.Popen(
            [*args, "--set", f"experiment.output_dir={out}"],
            env=ray_env_module,
            stdout=stream,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 240
        while not list(out.rglob("checkpoints/model_*_steps.zip")):
            assert proc.poll() is None and time.monotonic() < deadline, first_log.read_text()[-4000:]
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the Ray daemons this training started
    (folder,) = {p.parent.parent for p in out.rglob("checkpoints/model_*_steps.zip")}
    assert not (folder / "summary.json").exists(), "the training finished before it was killed"
    before = {"evaluations": _rows(folder / "evaluations.csv"), "progress": _rows(folder / "progress.csv")}
    temp_dir = tempfile.mkdtemp(prefix="rl_cur_", dir="/tmp")  # the killed run's daemons may linger a moment
    env = {**ray_env_module, "RAY_LAB_RAY_TEMP_DIR": temp_dir}
    resume = [sys.executable, "-m", "ray_lab", "train", "--resume", str(folder)]
    result = subprocess.run(resume, env=env, cwd=work, capture_output=True, text=True, timeout=400)
    shutil.rmtree(temp_dir, ignore_errors=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    yield {"folder": folder, "first": first_log.read_text(), "resumed": result.stdout + result.stderr, **before}


def test_the_curriculum_advances_on_the_success_rate(resumed_run: dict[str, Any]) -> None:
    folder: Path = resumed_run["folder"]
    evals = _rows(folder / "evaluations.csv")
    assert [int(r["round"]) for r in evals] == [1, 2, 3, 4]
    lessons = [(r["curriculum/lesson"], r["curriculum/completed"], r["success_rate"]) for r in evals]
    assert lessons[0] == ("0", "1", "1.0")  # every episode of the first lesson succeeds: complete after 1 round
    assert all(lesson == ("1", "0", "0.0") for lesson in lessons[1:])  # the second is out of reach
    assert "Curriculum: lesson 0 'at-the-target' completed at 512 timesteps" in resumed_run["first"]
    assert "now lesson 1 'out-of-reach' (2 of 3)" in resumed_run["first"]
    progress = _rows(folder / "progress.csv")
    logged = {int(float(r["time/total_timesteps"])): r["curriculum/lesson"] for r in progress if r["curriculum/lesson"]}
    assert logged and all(lesson == ("0" if t < 512 else "1") for t, lesson in logged.items() if t != 512)


def test_a_resumed_run_starts_in_the_lesson_it_had_reached(resumed_run: dict[str, Any]) -> None:
    folder: Path = resumed_run["folder"]
    assert "Curriculum: resuming in lesson 1 'out-of-reach'" in resumed_run["resumed"]
    assert "completed" not in resumed_run["resumed"]  # lesson 0 is not run (and completed) again
    assert "at 512 timesteps" in resumed_run["resumed"]  # from the first checkpoint
    progress = _rows(folder / "progress.csv")
    after = progress[len(resumed_run["progress"]) :]
    assert {r["curriculum/lesson"] for r in after if r["curriculum/lesson"]} == {"1"}
    # SB3's buffer of the last 100 episodes comes back with the checkpoint, full of the first lesson's 1-step
    # episodes; each rollout (4 envs x 32 steps) adds 16 episodes of 8 steps only if every env runs the
    # second lesson from its first reset on (a first-lesson episode would add 1-step episodes).
    lengths = [float(r["rollout/ep_len_mean"]) for r in after if r.get("rollout/ep_len_mean")]
    assert lengths[:3] == pytest.approx([2.12, 3.24, 4.36]) and lengths[-1] == 8.0
