"""Keeping events on the PC while the database is away (the outbox file) and sending them (the policy), behind DurableLogger."""
