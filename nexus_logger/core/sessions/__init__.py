"""The session lifecycle: START and END as transactions, the one-open-session rule, believable times, which instrument this PC is, and how NexusLIMS pairs a session's rows."""
