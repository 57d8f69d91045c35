"""nexus-logger: a desktop session logger that writes NexusLIMS-compatible session logs."""

__version__ = "0.1.0"
