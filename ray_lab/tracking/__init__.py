"""Run folders, crash-safe writes, W&B tracking, learning curves and console output.

Import from the submodules (`ray_lab.tracking.atomic`, `.run_dir`, `.wandb_sink`, `.plots`,
`.progress`, `.console`); this package itself imports nothing heavy (no wandb, no matplotlib).
"""
