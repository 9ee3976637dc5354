"""Player logs survive restarts and players never see credentials: real player processes, no mocks.

The players here behave like Unity: they truncate ``-logFile`` when they start (the reference
simulator itself appends), write their environment into it, then run as the reference simulator.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from unity_workers.envs import RestartQuotaError, UnityEnv
from unity_workers.launcher import PlayerDiedError, PlayerOptions, UnityProcess, is_credential, player_environment
from unity_workers.spec import UnitySpec

# Like a Unity player: truncates -logFile at start. Writes its environment there, then serves as the
# reference simulator (which appends its own log lines), unless argv holds --exit-now.
UNITY_LIKE_PLAYER = """\
import json, os, sys
argv = sys.argv[1:]
log = argv[argv.index("-logFile") + 1]
with open(log, "w") as f:
    f.write("ENV " + json.dumps(dict(os.environ)) + "\\n")
if "--exit-now" in argv:
    sys.exit(5)
from unity_workers.reference_sim.cli import main
sys.exit(main(argv))
"""

SECRETS = {
    "WANDB_API_KEY": "sekrit-123456",
    "RAY_AUTH_TOKEN": "sekrit-ray-token",
    "AWS_SECRET_ACCESS_KEY": "sekrit-aws",
    "GITHUB_TOKEN": "sekrit-github",
}
HARMLESS = {"ROS_DOMAIN_ID": "17", "RAY_LAB_TEST_HARMLESS": "visible-1"}
PASSED = {"HF_TOKEN": "sekrit-but-passed"}
NAV = "unity_workers.envs.nav_adapter:NavAdapter"


@pytest.fixture
def player_script(tmp_path: Path) -> Path:
    path = tmp_path / "unity_like_player.py"
    path.write_text(UNITY_LIKE_PLAYER)
    return path


@pytest.fixture
def parent_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Secrets, a passed-through secret and harmless variables in this (the parent) process."""
    for name, value in {**SECRETS, **HARMLESS, **PASSED}.items():
        monkeypatch.setenv(name, value)


def player_env(log: Path) -> dict[str, Any]:
    """The environment a UNITY_LIKE_PLAYER wrote into its log (checked raw for leaked values too)."""
    text = log.read_text()
    for value in SECRETS.values():
        assert value not in text, f"{value!r} leaked into {log}"
    first = text.splitlines()[0]
    assert first.startswith("ENV "), first
    env: dict[str, Any] = json.loads(first[4:])
    return env


def wait_exit(player: UnityProcess, timeout_s: float = 30.0) -> int:
    deadline = time.monotonic() + timeout_s
    while player.returncode is None:
        assert time.monotonic() < deadline, f"{player!r} did not exit within {timeout_s} s"
        time.sleep(0.05)
    return player.returncode


# ---------------------------------------------------------------------- the rule
@pytest.mark.parametrize(
    "name",
    [
        "RAY_AUTH_TOKEN",
        "WANDB_API_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "AZURE_CLIENT_SECRET",
        "AZURE_STORAGE_KEY",
        "AZURE_STORAGE_CONNECTION_STRING",
        "HF_TOKEN",
        "GITHUB_TOKEN",
        "DB_PASSWORD",
        "OPENAI_APIKEY",
        "SSH_AUTH_SOCK",
        "my_token",
    ],
)
def test_credentials_are_recognised(name: str) -> None:
    assert is_credential(name)


@pytest.mark.parametrize(
    "name",
    ["PATH", "HOME", "DISPLAY", "XAUTHORITY", "LD_LIBRARY_PATH", "ROS_DOMAIN_ID", "RMW_IMPLEMENTATION", "LANG",
     "LC_ALL", "RAY_AUTH_MODE", "CUDA_VISIBLE_DEVICES", "TOKENIZERS_PARALLELISM", "AZURE_TENANT_ID"],
)  # fmt: skip
def test_harmless_variables_are_not_credentials(name: str) -> None:
    assert not is_credential(name)


def test_player_environment_keeps_passthrough_and_adds_our_own() -> None:
    parent = {"PATH": "/bin", "WANDB_API_KEY": "x", "HF_TOKEN": "y"}
    env = player_environment(parent, ["HF_TOKEN"], {"OWN_TOKEN": "ours", "PATH": "/opt/bin"})
    assert env == {"PATH": "/opt/bin", "HF_TOKEN": "y", "OWN_TOKEN": "ours"}


def test_env_passthrough_takes_variable_names_only() -> None:
    assert UnitySpec(env_passthrough=["AWS_ACCESS_KEY_ID"]).env_passthrough == ["AWS_ACCESS_KEY_ID"]
    with pytest.raises(ValidationError, match="'AWS_\\*'"):
        UnitySpec(env_passthrough=["AWS_*"])
    with pytest.raises(ValueError, match="env_passthrough"):
        PlayerOptions(command=["x"], log_dir=Path("/tmp"), worker_index=0, env_passthrough=("A=1",))


# ---------------------------------------------------------------------- real players
def test_a_secret_in_the_parent_is_invisible_to_a_real_player(
    tmp_path: Path, player_script: Path, parent_env: None
) -> None:
    options = PlayerOptions(
        command=[sys.executable, str(player_script)],
        log_dir=tmp_path / "logs",
        worker_index=0,
        extra_args=("--exit-now",),
        env_passthrough=tuple(PASSED),
        env={"RAY_LAB_OWN_TOKEN": "ours"},
    )
    with UnityProcess(options) as player:
        player.start(10000)
        assert wait_exit(player) == 5
    env = player_env(options.log_path)
    assert not set(SECRETS) & set(env)
    assert {name: env.get(name) for name in {**HARMLESS, **PASSED}} == {**HARMLESS, **PASSED}
    assert env["RAY_LAB_OWN_TOKEN"] == "ours" and env["PATH"]


@pytest.fixture
def make_env(tmp_path: Path, player_script: Path) -> Iterator[Any]:
    envs: list[UnityEnv] = []

    def make(**kwargs: Any) -> UnityEnv:
        spec = {"command": [sys.executable, str(player_script)], "adapter": NAV, "connect_timeout_s": 30.0}
        env = UnityEnv(log_dir=str(tmp_path / "unity"), ros2_graph="off", **{**spec, **kwargs})
        envs.append(env)
        return env

    yield make
    for env in envs:
        env.close()


def test_unity_env_hands_env_passthrough_to_its_player(make_env: Any, parent_env: None) -> None:
    env = make_env(env_passthrough=list(PASSED), worker_index=2)
    env.reset(seed=0)
    seen = player_env(env.log_path)
    assert env.log_path.name == "worker_2.log"
    assert not set(SECRETS) & set(seen) and seen["HF_TOKEN"] == PASSED["HF_TOKEN"]
    assert seen["RAY_LAB_TEST_HARMLESS"] == "visible-1"


def test_a_restart_keeps_the_crash_log_and_names_it(make_env: Any, caplog: pytest.LogCaptureFixture) -> None:
    env = make_env(extra_args=["--crash-after-steps", "2"], worker_index=4)
    env.reset(seed=0)
    with caplog.at_level(logging.WARNING, logger="unity_workers.envs"):
        infos = [env.step(np.zeros(2))[4] for _ in range(3)]
    assert [info.get("env_restarted", False) for info in infos] == [False, False, True]
    crashed, restarted = env.log_paths
    assert (crashed.name, restarted.name) == ("worker_4.log", "worker_4.restart-1.log")
    assert env.log_path == restarted and sorted(p.name for p in crashed.parent.glob("*.log")) == [
        "worker_4.log",
        "worker_4.restart-1.log",
    ]
    assert "crash injected at step call 3" in crashed.read_text()
    assert "crash injected" not in restarted.read_text() and player_env(restarted)
    warnings = [r.getMessage() for r in caplog.records if "restarting the Unity player" in r.getMessage()]
    assert len(warnings) == 1 and str(crashed) in warnings[0] and str(restarted) not in warnings[0]


def test_quota_error_names_the_log_of_the_last_crash(make_env: Any) -> None:
    env = make_env(extra_args=["--crash-after-steps", "0"], max_restarts=1, worker_index=6)
    env.reset(seed=0)
    assert env.step(np.zeros(2))[4]["env_restarted"]
    env.reset(seed=0)
    with pytest.raises(RestartQuotaError) as caught:
        env.step(np.zeros(2))
    message = str(caught.value)
    first, last = env.log_paths
    assert f"player log: {last}" in message and "worker_6.log, worker_6.restart-1.log" in message
    assert "crash injected" in first.read_text() and "crash injected" in last.read_text()


def test_player_died_error_names_the_log_of_its_start(tmp_path: Path, player_script: Path) -> None:
    base = PlayerOptions(
        command=[sys.executable, str(player_script)], log_dir=tmp_path, worker_index=3, extra_args=("--exit-now",)
    )
    options = base.for_start(2)
    assert options.log_path == tmp_path / "worker_3.restart-2.log"
    assert options.output_path == tmp_path / "worker_3.restart-2.out"
    with UnityProcess(options) as player:
        player.start(10000)
        with pytest.raises(PlayerDiedError, match="exited with code 5") as caught:
            player.wait_connected(lambda: False, timeout_s=30)
    assert caught.value.log_path == options.log_path
    assert f"player log: {options.log_path}" in str(caught.value)
    assert not base.log_path.exists()
