"""The files NexusLIMS would find for a session, by NexusLIMS's own rules."""
