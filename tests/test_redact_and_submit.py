"""Secrets stay home (issue 10, item 7): redaction of logged configs, and what `ray-lab submit` uploads.

No Ray cluster here: `ray-lab submit` refuses a bad working directory before it connects, so the
CLI tests point it at a closed port.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ray_lab.cli.main import main
from ray_lab.cli.submit import UPLOAD_EXCLUDES
from ray_lab.cli.upload_check import MIB, UploadRefused, check_upload, scan_upload
from ray_lab.tracking.redact import REDACTED, is_secret_key, key_words, scrub_secrets, scrub_url_passwords

ROOT = Path(__file__).resolve().parents[1]
CARTPOLE = str(ROOT / "configs" / "cartpole_ppo.yaml")
CLOSED = "http://127.0.0.1:9"  # nothing listens: a submit that got this far would fail with exit 1


# --- redaction -----------------------------------------------------------------------------------

SECRET_KEYS = [
    "access_key",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "secret_access_key",
    "private_key",
    "privateKey",
    "credentials",
    "gcp_credentials",
    "hf_token",
    "HF_TOKEN",
    "token",
    "authToken",
    "RAY_AUTH_TOKEN",
    "auth",
    "basic_auth",
    "Authorization",
    "api-key",
    "api_key",
    "apiKey",
    "APIKEY",
    "WANDB_API_KEY",
    "x-api-key",
    "db_password",
    "password",
    "passwd",
    "db_pwd",
    "client_secret",
    "secrets",
    "ssh_key",
]
HARMLESS_KEYS = [
    "max_tokens",
    "num_tokens",
    "tokens_per_step",
    "token_budget",  # `token` not at the end: a count, not a credential
    "tokenizer",
    "tokenizer_name",
    "pad_token",  # a tokenizer's special token
    "eos_token",
    "keyboard",
    "monkey",
    "sort_key",
    "key",
    "secretary",  # a different word than `secret`
    "auth_mode",  # RAY_AUTH_MODE=token names the mode, not the token
    "lr",
    "batch_size",
]


@pytest.mark.parametrize("key", SECRET_KEYS)
def test_secret_keys_are_redacted(key: str) -> None:
    assert is_secret_key(key), key_words(key)
    assert scrub_secrets({key: "value", "lr": 0.1}) == {key: REDACTED, "lr": 0.1}


@pytest.mark.parametrize("key", HARMLESS_KEYS)
def test_harmless_keys_stay_visible(key: str) -> None:
    assert not is_secret_key(key), key_words(key)
    assert scrub_secrets({key: 512}) == {key: 512}


@pytest.mark.parametrize(
    ("key", "words"),
    [
        ("AWS_SECRET_ACCESS_KEY", ["aws", "secret", "access", "key"]),
        ("authToken", ["auth", "token"]),
        ("HFToken", ["hf", "token"]),
        ("api-key.v2", ["api", "key", "v"]),
        ("hf_token_2", ["hf", "token"]),
    ],
)
def test_key_words_split_on_separators_and_camel_case(key: str, words: list[str]) -> None:
    assert key_words(key) == words


def test_non_string_keys_are_not_secret() -> None:
    assert not is_secret_key(3) and not is_secret_key(None) and not is_secret_key("")


@pytest.mark.parametrize(
    ("text", "scrubbed"),
    [
        ("https://user:pass@host/path", f"https://user:{REDACTED}@host/path"),
        ("redis://:pw@cache:6379/0", f"redis://:{REDACTED}@cache:6379/0"),
        ("postgres://u:p@ss@db/x", f"postgres://u:{REDACTED}@db/x"),
        ("git+ssh://git:tok@github.com/a.git", f"git+ssh://git:{REDACTED}@github.com/a.git"),
        ("a http://a:b@c and ftp://d:e@f", f"a http://a:{REDACTED}@c and ftp://d:{REDACTED}@f"),
        ("https://host:8080/a@b", "https://host:8080/a@b"),  # a port, not a password
        ("https://user@host:8080/x", "https://user@host:8080/x"),  # no password
        ("plain text: not a url", "plain text: not a url"),
    ],
)
def test_url_passwords(text: str, scrubbed: str) -> None:
    assert scrub_url_passwords(text) == scrubbed


def test_url_passwords_are_scrubbed_inside_nested_configs_and_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    config = {
        "storage": {"uri": "s3://bucket/x", "mirrors": ["https://me:hunter2@mirror/x", ("redis://:pw@h:1",)]},
        "max_tokens": 256,
        "db": {"url": "postgres://u:pw@db:5432/runs", "password": "pw", "port": 5432},
    }
    assert scrub_secrets(config) == {
        "storage": {
            "uri": "s3://bucket/x",
            "mirrors": [f"https://me:{REDACTED}@mirror/x", [f"redis://:{REDACTED}@h:1"]],
        },
        "max_tokens": 256,
        "db": {"url": f"postgres://u:{REDACTED}@db:5432/runs", "password": REDACTED, "port": 5432},
    }
    assert config["db"]["url"] == "postgres://u:pw@db:5432/runs"  # the input is not modified


def test_known_secret_values_are_still_replaced_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    scrubbed = scrub_secrets({"note": f"url?key={'k' * 40}", "run": ["x", "abcdefgh-1"]}, extra_secrets=["abcdefgh"])
    assert scrubbed == {"note": REDACTED, "run": ["x", REDACTED]}


# --- what `ray-lab submit` uploads -------------------------------------------------------------------


def make_project(root: Path) -> Path:
    """A small project as `ray-lab submit` expects it, with the things that are never uploaded."""
    (root / "configs").mkdir(parents=True)
    (root / "configs" / "run.yaml").write_text("experiment: {name: x}\n")
    (root / "my_env").mkdir()
    (root / "my_env" / "__init__.py").write_text("")
    (root / ".env").write_text("WANDB_API_KEY=abc\n")  # excluded by UPLOAD_EXCLUDES
    (root / "secrets.env").write_text("WANDB_API_KEY=abc\n")
    (root / ".env.example").write_text("WANDB_API_KEY=your-key-here\n")  # a template
    (root / ".env.local").write_text("DEBUG=1\nLOG_LEVEL=info\n")  # no secrets
    (root / ".venv" / "lib").mkdir(parents=True)
    (root / ".venv" / "lib" / "big.so").write_bytes(b"\0" * (2 * MIB))
    (root / "tls.pem").write_text("-----BEGIN PRIVATE KEY-----\n")  # excluded by UPLOAD_EXCLUDES
    return root


def refusal(root: Path, max_upload_mib: float = 100) -> str:
    with pytest.raises(UploadRefused) as info:
        check_upload(root, UPLOAD_EXCLUDES, max_upload_mib)
    return str(info.value)


def test_a_project_directory_passes(tmp_path: Path) -> None:
    scan = check_upload(make_project(tmp_path), UPLOAD_EXCLUDES, max_upload_mib=1)
    assert scan.credentials == [] and scan.total_bytes < 1024  # .venv's 2 MiB are not counted


def test_this_repository_passes() -> None:
    scan = check_upload(ROOT, UPLOAD_EXCLUDES, max_upload_mib=100)
    assert scan.credentials == []


@pytest.mark.parametrize(
    ("files", "named"),
    [
        ([".netrc"], ".netrc"),
        (["_netrc"], "_netrc"),
        ([".ssh/id_rsa", ".ssh/known_hosts"], ".ssh/"),
        (["id_ed25519"], "id_ed25519"),
        (["deploy/id_rsa.pub"], "deploy/id_rsa.pub"),
        (["sub/.aws/credentials"], "sub/.aws/"),
        ([".gnupg/pubring.kbx"], ".gnupg/"),
        ([".docker/config.json"], ".docker/config.json"),
        ([".kube/config"], ".kube/config"),
        ([".config/gcloud/application_default_credentials.json"], ".config/gcloud/"),
        ([".git-credentials"], ".git-credentials"),
        ([".pypirc"], ".pypirc"),
        (["keys/credentials.json"], "keys/credentials.json"),
        (["server.KEY"], "server.KEY"),
        ([".ray/auth_token"], ".ray/auth_token"),
    ],
)
def test_credential_files_are_refused(tmp_path: Path, files: list[str], named: str) -> None:
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("secret\n")
    message = refusal(tmp_path)
    assert f"credential files: {named}" in message and ".rayignore" in message and "project folder" in message


@pytest.mark.parametrize(
    "content", ["WANDB_API_KEY=abc123\n", "export HF_TOKEN='hf_x'\n", "DATABASE_URL=postgres://u:pw@db/x\n"]
)
def test_env_files_that_set_secrets_are_refused(tmp_path: Path, content: str) -> None:
    (tmp_path / ".env.production").write_text("DEBUG=0\n" + content)
    assert "credential files: .env.production" in refusal(tmp_path)


def test_paths_that_are_not_uploaded_are_not_refused(tmp_path: Path) -> None:
    make_project(tmp_path)
    (tmp_path / ".netrc").write_text("machine x password y\n")
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "id_rsa").write_text("key\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / ".aws").mkdir()
    (tmp_path / "sub" / ".aws" / "credentials").write_text("key\n")
    (tmp_path / ".rayignore").write_text(".netrc\n.ssh/\n")  # Ray reads it from the working dir
    (tmp_path / "sub" / ".gitignore").write_text(".aws\n")  # ... and every folder's .gitignore
    assert check_upload(tmp_path, UPLOAD_EXCLUDES, 100).credentials == []


def test_gitignore_counts_only_when_ray_reads_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".netrc").write_text("machine x password y\n")
    (tmp_path / ".gitignore").write_text(".netrc\n")
    assert check_upload(tmp_path, UPLOAD_EXCLUDES, 100).credentials == []
    monkeypatch.setenv("RAY_RUNTIME_ENV_IGNORE_GITIGNORE", "1")
    assert "credential files: .netrc" in refusal(tmp_path)


def test_a_directory_over_the_size_limit_is_refused_early(tmp_path: Path) -> None:
    make_project(tmp_path)
    (tmp_path / "data").mkdir()
    for index in range(8):
        (tmp_path / "data" / f"part{index}.bin").write_bytes(b"\1" * MIB)
    message = refusal(tmp_path, max_upload_mib=2.5)
    assert "more than --max-upload-mib 2.5 MiB" in message and "data/ 3.0 MiB" in message
    assert "raise --max-upload-mib" in message
    scan = scan_upload(tmp_path, UPLOAD_EXCLUDES, int(2.5 * MIB))
    assert scan.top_level_bytes["data/"] == 3 * MIB and "my_env/" not in scan.top_level_bytes  # stopped early
    assert check_upload(tmp_path, UPLOAD_EXCLUDES, max_upload_mib=9).total_bytes >= 8 * MIB


def test_a_symlink_loop_is_walked_once(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "loop").symlink_to(tmp_path / "a")
    (tmp_path / "a" / "f.txt").write_text("x")
    assert check_upload(tmp_path, UPLOAD_EXCLUDES, 1).total_bytes == 1


# --- the command line ------------------------------------------------------------------------------


def test_submit_refuses_a_home_like_directory_before_connecting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / ".netrc").write_text("machine api.wandb.ai login user password x\n")
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "id_rsa").write_text("key\n")
    monkeypatch.chdir(tmp_path)
    assert main(["submit", "--address", CLOSED, "--config", CARTPOLE]) == 2
    err = capsys.readouterr().err
    assert f"refusing to upload {tmp_path}" in err and "credential files: .netrc, .ssh/" in err


def test_submit_refuses_over_the_size_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "checkpoint.zip").write_bytes(b"\1" * MIB)
    monkeypatch.chdir(tmp_path)
    assert main(["submit", "--address", CLOSED, "--config", CARTPOLE, "--max-upload-mib", "0.5"]) == 2
    assert "checkpoint.zip 1.0 MiB" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["0", "-1", "lots", "inf", "nan"])
def test_a_bad_size_flag_is_a_usage_error(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["submit", "--address", CLOSED, "--config", CARTPOLE, "--max-upload-mib", value])
    assert info.value.code == 2 and "--max-upload-mib" in capsys.readouterr().err


def test_ray_lab_submit_from_a_directory_with_a_netrc_exits_2(tmp_path: Path) -> None:
    """The real command in its own process, as a user would run it from $HOME."""
    (tmp_path / ".netrc").write_text("machine api.wandb.ai login user password x\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "ray_lab", "submit", "--address", CLOSED, "--config", CARTPOLE],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr[-3000:]
    assert "credential files: .netrc" in result.stderr and "Submitted" not in result.stdout
