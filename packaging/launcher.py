"""Entry script of the frozen app: the same ``run()`` as the ``nexus-logger`` console script."""

import sys

from nexus_logger.cli import run

if __name__ == "__main__":
    sys.exit(run())
