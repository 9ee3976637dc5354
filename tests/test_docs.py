"""docs/configuration.md is generated from the schema; this fails when they drift apart."""

from __future__ import annotations

from pathlib import Path

from ray_lab.cli.config_docs import render

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def test_configuration_reference_matches_schema() -> None:
    assert DOC.read_text() == render(), "regenerate: python -m ray_lab.cli.config_docs > docs/configuration.md"


def test_reference_lists_every_key_of_the_seed_schema() -> None:
    text = DOC.read_text()
    for key in (
        "experiment.name",
        "environment.video_trigger",
        "training.pretrained_model",
        "training.architecture.share_features_extractor",
        "training.training.eval.num_evals",
        "training.training.log_points",
        "evaluation.num_episodes",
        "play.pretrained_model",
        "workers.envs_per_worker",
        "wrappers.vec_normalize.norm_obs",
        "tracking.entity",
    ):
        assert f"`{key}`" in text, key
