"""Settings and this PC's facts that every layer may read: the configuration and its precedence, where files live, logging, the real OS account."""
