"""Allow ``python -m nexus_logger``."""

import sys

from nexus_logger.cli import run

sys.exit(run())
