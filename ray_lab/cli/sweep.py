"""`ray-lab sweep`: check the spec (exit 2 on any problem, nothing started), run it on Ray Tune, write the outputs."""

from __future__ import annotations

from pathlib import Path

from ray_lab.config.errors import ConfigError


def run_sweep(spec_path: str | None, resume_dir: str | None) -> int:
    """Run or resume a sweep; returns the exit code (ConfigError propagates: exit code 2 in `main`)."""
    from ray_lab.tune.load import load_sweep

    loaded = load_sweep(spec_path) if spec_path else None  # a bad spec fails here, before Ray starts

    from ray_lab.cli.ray_connect import connect_ray
    from ray_lab.tracking.console import print_config
    from ray_lab.tune.outputs import finish_sweep
    from ray_lab.tune.run import resume_sweep, start_sweep

    if loaded is not None:
        print_config(loaded.spec.model_dump(mode="json"), title=f"ray-lab sweep: {spec_path}")
    print(connect_ray())
    if resume_dir is not None:
        folder = Path(resume_dir)
        if not folder.is_dir():
            raise ConfigError.single(resume_dir, "--resume", "no such sweep folder")
        run = resume_sweep(folder)
    else:
        assert loaded is not None  # argparse requires --spec or --resume
        run = start_sweep(loaded)
    return finish_sweep(run)
