"""Entry script of the frozen app: the same ``main()`` as the ``nexus-logger`` console script."""

import sys

from nexus_logger.cli import main

if __name__ == "__main__":
    sys.exit(main())
