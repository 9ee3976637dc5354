"""Atomic writes and CSV appends: real files in tmp_path."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from ray_lab.tracking.atomic import append_csv_row, atomic_path, atomic_write_bytes, atomic_write_text


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_write_creates_file_and_parent_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "summary.json"
    assert atomic_write_text(target, '{"a": 1}') == target
    assert target.read_text() == '{"a": 1}'
    atomic_write_bytes(target, b"second")
    assert target.read_bytes() == b"second"
    assert names(target.parent) == ["summary.json"]


def test_old_file_intact_when_writer_raises_midway(tmp_path: Path) -> None:
    target = tmp_path / "model.zip"
    target.write_bytes(b"old model")
    with pytest.raises(RuntimeError, match="crash"), atomic_path(target) as tmp:
        with tmp.open("wb") as file:
            file.write(b"half a new mod")
        raise RuntimeError("crash while writing")
    assert target.read_bytes() == b"old model"
    assert names(tmp_path) == ["model.zip"]


def test_keyboard_interrupt_cleans_up_too(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
        tmp.write_text("partial")
        raise KeyboardInterrupt
    assert names(tmp_path) == []


def test_writer_that_creates_nothing_is_an_error(tmp_path: Path) -> None:
    target = tmp_path / "plot.png"
    target.write_bytes(b"old")
    with pytest.raises(FileNotFoundError, match="did not create"), atomic_path(target):
        pass
    assert target.read_bytes() == b"old"
    assert names(tmp_path) == ["plot.png"]


def test_temp_path_is_a_hidden_sibling_that_keeps_the_suffix(tmp_path: Path) -> None:
    target = tmp_path / "best_model.zip"
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path
        assert tmp.name.startswith(".tmp-")
        assert tmp.name.endswith(".best_model.zip")
        assert tmp.suffix == ".zip"
        tmp.write_bytes(b"x")
    assert names(tmp_path) == ["best_model.zip"]


def test_sb3_model_save_writes_through_the_temp_path(tmp_path: Path) -> None:
    """SB3 appends `.zip` to a path without that suffix; the temp name must not trigger it."""
    from stable_baselines3 import PPO

    model = PPO("MlpPolicy", "CartPole-v1", n_steps=32, batch_size=32, device="cpu")
    target = tmp_path / "model.zip"
    with atomic_path(target) as tmp:
        model.save(tmp)
    assert names(tmp_path) == ["model.zip"]
    loaded = PPO.load(target, device="cpu")
    assert loaded.observation_space == model.observation_space


def test_append_csv_row_writes_header_once_and_fills_missing(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "evaluations.csv"
    fields = ["round", "timesteps", "mean_return"]
    append_csv_row(path, {"round": 1, "timesteps": 100, "mean_return": 1.5}, fields)
    append_csv_row(path, {"round": 2, "timesteps": 200}, fields)
    with path.open(newline="") as file:
        rows = list(csv.reader(file))
    assert rows == [fields, ["1", "100", "1.5"], ["2", "200", ""]]


def test_append_csv_row_to_an_empty_file_writes_the_header(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text("")
    append_csv_row(path, {"a": 1}, ["a"])
    assert path.read_text().splitlines() == ["a", "1"]


def test_append_csv_row_rejects_unknown_keys_and_other_headers(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    with pytest.raises(ValueError, match=r"\['extra'\]"):
        append_csv_row(path, {"a": 1, "extra": 2}, ["a"])
    assert not path.exists()
    append_csv_row(path, {"a": 1}, ["a"])
    with pytest.raises(ValueError, match=r"header \['a'\].*\['a', 'b'\]"):
        append_csv_row(path, {"a": 2}, ["a", "b"])
    assert path.read_text().splitlines() == ["a", "1"]
