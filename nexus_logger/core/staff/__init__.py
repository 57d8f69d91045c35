"""Tools for facility staff: problems in the data, session summaries, admin actions with their audit trail, privacy, the fleet of PCs, PostgreSQL roles."""
