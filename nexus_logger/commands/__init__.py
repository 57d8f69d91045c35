"""Headless sub-commands of ``nexus-logger``; each module registers its own parsers.

No module here imports Qt at import time; the commands that open a window import
:mod:`nexus_logger.gui` inside their handler.
"""
