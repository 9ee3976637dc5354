"""`python -m ray_lab ...` (as used by `ray job submit ... -- python -m ray_lab train --config X.yaml`)."""

import sys

from ray_lab.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
