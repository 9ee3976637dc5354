"""After `Tuner.fit()`: the sweep's results.csv, summary.md, plots and best config, and the console report.

Each trial's run folder is found through the link its trainable wrote into Tune's trial folder, so
Tune's status and wall time join our evaluation files exactly.
"""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from ray_lab.config.loader import set_dotted
from ray_lab.tracking.atomic import atomic_write_text
from ray_lab.tracking.progress import print_summary
from ray_lab.tune.plots import plot_metric_vs_params, plot_sweep_curves
from ray_lab.tune.report import best_config_header, best_config_yaml, print_ranking, write_summary_md
from ray_lab.tune.results import TrialRecord, rank_configurations, read_trial_metrics, write_results_csv
from ray_lab.tune.run import SweepRun
from ray_lab.tune.space import base_overrides
from ray_lab.tune.trainable import RUN_DIR_LINK, TRIAL_INFO

__all__ = ["collect_records", "finish_sweep"]


def _record(result: Any, num_evals: int) -> TrialRecord | None:
    """One trial of Tune's result grid as a TrialRecord (None when it never started)."""
    link = Path(result.path) / RUN_DIR_LINK
    if not link.is_file():
        return None
    run_dir = Path(link.read_text().strip())
    info = json.loads((run_dir / TRIAL_INFO).read_text())
    status = "ERROR" if result.error is not None else "TERMINATED"
    record = TrialRecord(
        trial_id=run_dir.name,
        run_dir=run_dir,
        values=dict(info["values"]),
        seed=info.get("seed"),
        status=status,
        wall_time_s=(result.metrics or {}).get("time_total_s"),
        error=None if result.error is None else f"{type(result.error).__name__}: {result.error}"[:500],
    )
    if status == "TERMINATED" and read_trial_metrics(record, "eval/mean_return").rounds < num_evals:
        record = replace(record, status="STOPPED_EARLY")
    return record


def collect_records(run: SweepRun) -> list[TrialRecord]:
    """Every trial that started, in trial order."""
    num_evals = run.loaded.sample.loop.eval.num_evals
    records = [_record(result, num_evals) for result in run.results]
    return sorted((r for r in records if r is not None), key=lambda r: r.trial_id)


def _best_config(run: SweepRun, values: dict[str, Any]) -> dict[str, Any]:
    """The base config with the spec's fixed keys set: the best values go on top of it."""
    base = copy.deepcopy(run.loaded.base)
    for key, value in base_overrides(run.loaded.spec).items():
        set_dotted(base, key, value)
    set_dotted(base, "experiment.name", f"{run.loaded.spec.name}-best")
    return base


def finish_sweep(run: SweepRun) -> int:
    """Write every output, print the ranking and the best config; exit code 0 when some trial finished."""
    spec, folder = run.loaded.spec, run.sweep_dir
    records = collect_records(run)
    write_results_csv(folder / "results.csv", records, spec.metric, spec.mode)
    # Configurations rank by their completed trials; one that ASHA/PBT stopped early ranks after them.
    rankings = rank_configurations(records, spec.metric, spec.mode, statuses={"TERMINATED"})
    scored = [r for r in rankings if r.n_finished]
    lines = [
        f"Sweep folder: `{folder}`",
        f"Trials: {len(records)} ({sum(r.status == 'ERROR' for r in records)} failed)",
    ]
    write_summary_md(folder / "summary.md", rankings, spec.metric, spec.mode, spec.name, extra_lines=lines)
    best_ids = set(scored[0].trial_ids) if scored else set()
    plot_sweep_curves(folder / "eval_curves.png", records, spec.metric, spec.mode, best_ids)
    plot_metric_vs_params(folder / "metric_vs_params.png", records, spec.metric, list(spec.space))
    print_ranking(rankings, spec.metric, spec.mode)
    if not scored:
        print(f"ray-lab: no trial finished; see {folder / 'results.csv'} (resume with --resume {folder})")
        return 1
    header = best_config_header(spec.name, spec.metric, spec.mode, scored[0])
    text = best_config_yaml(_best_config(run, scored[0].values), scored[0], header)
    atomic_write_text(folder / "best_config.yaml", text)
    print(f"\nBest configuration, ready to train (`ray-lab train --config {folder / 'best_config.yaml'}`):\n")
    print(text)
    rows = [(name, str(folder / name)) for name in ("results.csv", "summary.md", "best_config.yaml")]
    rows += [(name, str(folder / name)) for name in ("eval_curves.png", "metric_vs_params.png")]
    print_summary(rows, title=f"ray-lab: sweep {spec.name} finished")
    return 0
