"""Checking and trying a PC's set-up: the doctor's checks and the demo database."""
