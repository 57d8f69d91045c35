"""The bridge that copies finished PostgreSQL sessions to NexusLIMS's SQLite file and the results back."""
