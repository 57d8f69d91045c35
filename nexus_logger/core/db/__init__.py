"""The database: engines, NexusLIMS's tables (typed Core tables), the schema check, the tables nexus-logger owns beside them, and the instrument lock."""
