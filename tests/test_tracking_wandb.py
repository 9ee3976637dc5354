"""W&B tracking: real offline runs (no network), mode resolution, secret scrubbing, model URIs."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ray_lab.tracking.atomic import atomic_write_bytes
from ray_lab.tracking.redact import REDACTED, scrub_secrets
from ray_lab.tracking.wandb_mode import api_key_configured, resolve_mode
from ray_lab.tracking.wandb_sink import NullSink, Sink, WandbSink, parse_wandb_uri, resolve_wandb_model

FAKE_KEY = "fakekey0" + "0123456789abcdef" * 2  # 40 characters, as wandb requires
BLOCK = 32 * 1024


@pytest.fixture
def wandb_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every wandb folder (settings, cache, artifact staging) under tmp_path; no credentials."""
    home = tmp_path / "wandb_home"
    for var, sub in [
        ("WANDB_DIR", "dir"),
        ("WANDB_CONFIG_DIR", "config"),
        ("WANDB_CACHE_DIR", "cache"),
        ("WANDB_DATA_DIR", "data"),
        ("WANDB_ARTIFACT_DIR", "artifacts"),
    ]:
        (home / sub).mkdir(parents=True)
        monkeypatch.setenv(var, str(home / sub))
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.setenv("WANDB_MODE", "offline")
    for var in ("WANDB_API_KEY", "WANDB_IDENTITY_TOKEN_FILE", "WANDB_BASE_URL", "WANDB_DISABLED"):
        monkeypatch.delenv(var, raising=False)
    return home


def wandb_records(run_file: Path) -> Iterator[Any]:
    """The protobuf records of a `.wandb` transaction log (leveldb log format: 32 KiB blocks)."""
    from wandb.proto import wandb_internal_pb2

    data = run_file.read_bytes()
    assert data[:4] == b":W&B", f"{run_file} is not a wandb transaction log"
    pos, pending = 7, b""
    while pos + 7 <= len(data):
        if BLOCK - pos % BLOCK < 7:
            pos += BLOCK - pos % BLOCK
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunk, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
        if kind == 0:
            continue
        pending = chunk if kind in (1, 2) else pending + chunk
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()  # type: ignore[attr-defined]
            record.ParseFromString(pending)
            yield record
            pending = b""


def history_rows(run_file: Path) -> list[dict[str, Any]]:
    rows = []
    for record in wandb_records(run_file):
        if record.WhichOneof("record_type") == "history":
            rows.append({"/".join(i.nested_key) or i.key: json.loads(i.value_json) for i in record.history.item})
    return rows


def make_sink(run_dir: Path, **overrides: Any) -> WandbSink:
    args: dict[str, Any] = {
        "project": "ray-lab-tests",
        "entity": None,
        "group": "CartPole-v1",
        "run_name": run_dir.name,
        "mode": "auto",
        "tags": ["test"],
        "config": {"training": {"algorithm": "ppo"}},
        "run_dir": run_dir,
    }
    args.update(overrides)
    return WandbSink(**args)


def test_offline_run_logs_metrics_tensorboard_and_an_artifact_without_secrets(
    wandb_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from stable_baselines3.common.logger import TensorBoardOutputFormat

    monkeypatch.setenv("WANDB_API_KEY", FAKE_KEY)  # WANDB_MODE=offline still wins
    run_dir = tmp_path / "run"
    config = {
        "training": {"algorithm": "ppo", "lr": 3e-4},
        "tracking": {
            "api_key": FAKE_KEY,
            "Auth_Token": "tok-1234567890",
            "nested": [{"password": "hunter2"}],
        },
        "note": f"key is {FAKE_KEY}",
    }
    sink = make_sink(run_dir, config=config)
    assert isinstance(sink, Sink)
    assert sink.mode == "offline" and sink.url is None and sink.run_id
    assert sink.local_dir.parent == run_dir / "wandb"
    assert f"wandb sync {sink.local_dir}" in capsys.readouterr().out

    tensorboard = TensorBoardOutputFormat(str(run_dir / "tensorboard"))  # SB3's writer, made after the sink
    for step in (100, 200, 300):
        sink.log({"rollout/ep_rew_mean": step / 10, "train/loss": 0.5}, step=step)
        tensorboard.write({"tb/only": step / 100}, {"tb/only": ()}, step=step)
    tensorboard.close()
    model = run_dir / "model.zip"
    model.write_bytes(b"model v1")
    sink.log_artifact(model, name=f"{run_dir.name}-model", aliases=["final", "latest"])
    atomic_write_bytes(model, b"model v2, written after logging")  # the artifact keeps v1
    sink.summary({"best_eval_return": 9.5, "token": FAKE_KEY})
    sink.finish()
    sink.finish()  # harmless
    sink.log({"late": 1.0}, step=400)  # ignored after finish

    run_files = list(sink.local_dir.glob("*.wandb"))
    assert len(run_files) == 1
    rows = history_rows(run_files[0])
    logged = [(r["global_step"], r["rollout/ep_rew_mean"]) for r in rows if "rollout/ep_rew_mean" in r]
    assert logged == [(100, 10.0), (200, 20.0), (300, 30.0)]
    assert sorted(r["global_step"] for r in rows if "tb/only" in r) == [100, 200, 300]
    assert not any("late" in r for r in rows)

    artifacts = [r.artifact for r in wandb_records(run_files[0]) if r.WhichOneof("record_type") == "artifact"]
    assert [(a.name, a.type, sorted(a.aliases)) for a in artifacts] == [("run-model", "model", ["final", "latest"])]
    (entry,) = artifacts[0].manifest.contents
    assert entry.path == "model.zip"
    assert Path(entry.local_path).read_bytes() == b"model v1"  # still there for a later `wandb sync`

    run_config = next(r.run.config for r in wandb_records(run_files[0]) if r.WhichOneof("record_type") == "run")
    tracking = json.loads(next(i.value_json for i in run_config.update if i.key == "tracking"))
    assert tracking == {"api_key": REDACTED, "Auth_Token": REDACTED, "nested": [{"password": REDACTED}]}
    for folder in (run_dir, wandb_env):
        for path in folder.rglob("*"):
            if path.is_file():
                content = path.read_bytes()
                assert FAKE_KEY.encode() not in content, f"the API key leaked into {path}"
                assert b"hunter2" not in content, f"a password leaked into {path}"


def test_auto_mode_without_a_key_runs_offline_and_says_how_to_sync(
    wandb_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("WANDB_MODE")
    with make_sink(tmp_path / "run", sync_tensorboard=False) as sink:
        assert sink.mode == "offline"
        sink.log({"x": 1.0}, step=1)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("W&B:")]
    assert len(lines) == 1
    assert "no API key" in lines[0] and "wandb sync" in lines[0]


def test_online_start_without_a_server_falls_back_to_offline(
    wandb_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("WANDB_MODE")
    monkeypatch.setenv("WANDB_API_KEY", FAKE_KEY)
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")  # nothing listens there
    sink = make_sink(tmp_path / "run", sync_tensorboard=False, init_timeout_s=3)
    sink.log({"x": 1.0}, step=1)
    sink.finish()
    assert sink.mode == "offline" and sink.url is None
    out = capsys.readouterr().out
    assert "could not start an online run" in out and f"wandb sync {sink.local_dir}" in out
    assert FAKE_KEY not in out
    assert [p.name for p in (tmp_path / "run" / "wandb").glob("*run-*")] == [sink.local_dir.name]


def test_disabled_mode_and_null_sink_accept_everything(
    wandb_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WANDB_MODE", "disabled")
    model = tmp_path / "m.zip"
    model.write_bytes(b"m")
    for sink in (make_sink(tmp_path / "run"), NullSink()):
        sink.log({"a": 1.0}, step=1)
        sink.log_artifact(model, name="m")
        sink.summary({"a": 1})
        sink.finish(exit_code=1)
        sink.finish()
        assert sink.url is None


def test_log_artifact_of_a_missing_file_names_the_path(wandb_env: Path, tmp_path: Path) -> None:
    with (
        make_sink(tmp_path / "run", sync_tensorboard=False) as sink,
        pytest.raises(FileNotFoundError, match=r"nope\.zip"),
    ):
        sink.log_artifact(tmp_path / "nope.zip", name="m")


def test_resolve_mode(wandb_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_mode("online")[0] == "offline"  # WANDB_MODE=offline overrides
    monkeypatch.setenv("WANDB_MODE", "dryrun")
    assert resolve_mode("auto")[0] == "offline"
    monkeypatch.setenv("WANDB_MODE", "sideways")
    with pytest.raises(ValueError, match="'sideways'"):
        resolve_mode("auto")
    monkeypatch.delenv("WANDB_MODE")
    assert resolve_mode("auto") == ("offline", "no API key is configured (WANDB_API_KEY or `wandb login`)")
    assert resolve_mode("disabled")[0] == "disabled"
    with pytest.raises(ValueError, match="'cloud'"):
        resolve_mode("cloud")
    monkeypatch.setenv("WANDB_API_KEY", FAKE_KEY)
    assert resolve_mode("auto")[0] == "online"


def test_api_key_from_netrc(wandb_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert not api_key_configured()
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine api.wandb.ai\n  login user\n  password {FAKE_KEY}\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    assert api_key_configured()


def test_scrub_secrets_is_recursive_and_does_not_modify_the_input(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_API_KEY", FAKE_KEY)
    config = {
        "WANDB_API_KEY": "x",
        "apiKey": "y",
        "a": {"client_secret": 1, "b": [{"HF_TOKEN": "z"}, "plain", f"url?key={FAKE_KEY}"]},
        "lr": 0.1,
    }
    scrubbed = scrub_secrets(config)
    assert scrubbed == {
        "WANDB_API_KEY": REDACTED,
        "apiKey": REDACTED,
        "a": {"client_secret": REDACTED, "b": [{"HF_TOKEN": REDACTED}, "plain", REDACTED]},
        "lr": 0.1,
    }
    assert config["apiKey"] == "y"


def test_parse_wandb_uri() -> None:
    ref = parse_wandb_uri("wandb:team/ray-lab/abc123/model.zip")
    assert (ref.entity, ref.project, ref.run_id, ref.file) == ("team", "ray-lab", "abc123", "model.zip")
    assert ref.run_path == "team/ray-lab/abc123"
    assert parse_wandb_uri("wandb:t/p/r/checkpoints/model_1000_steps.zip").file == "checkpoints/model_1000_steps.zip"


@pytest.mark.parametrize(
    "uri",
    [
        "team/ray-lab/abc123/model.zip",
        "wandb:team/ray-lab/model.zip",
        "wandb:/ray-lab/abc123/model.zip",
        "wandb:team//abc123/model.zip",
        "wandb:team/ray-lab/abc123/",
        "wandb:team/ray-lab/abc123/../model.zip",
        "wandb:team/ray-lab/abc123/model.pkl",
    ],
)
def test_parse_wandb_uri_rejects_bad_forms(uri: str) -> None:
    with pytest.raises(ValueError, match=r"expected wandb:<entity>/<project>/<run_id>/<file>\.zip|relative path"):
        parse_wandb_uri(uri)


def test_resolve_wandb_model_offline_is_a_clear_error(
    wandb_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = "wandb:team/ray-lab/abc123/model.zip"
    with pytest.raises(RuntimeError, match=r"wandb:team/ray-lab/abc123/model\.zip.*offline"):
        resolve_wandb_model(uri, tmp_path / "cache")
    monkeypatch.delenv("WANDB_MODE")
    with pytest.raises(RuntimeError, match="no W&B API key"):
        resolve_wandb_model(uri, tmp_path / "cache")
    with pytest.raises(ValueError, match="expected"):
        resolve_wandb_model("wandb:team/model.zip", tmp_path / "cache")
