"""`python -m ray_lab ...` (as used by `ray job submit ... -- python -m ray_lab train --config X.yaml`)."""

from ray_lab.cli.main import entry

if __name__ == "__main__":
    entry()
