"""``python -m unity_workers.reference_sim``: run one headless reference simulator process."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
