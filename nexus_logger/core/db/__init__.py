"""The database: engines, NexusLIMS's tables as models, the schema check, the tables nexus-logger owns beside them, and the instrument lock."""
