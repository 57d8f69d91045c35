"""Allow ``python -m nexus_logger``."""

import sys

from nexus_logger.cli import main

sys.exit(main())
