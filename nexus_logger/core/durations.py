"""A duration split into days, hours, minutes and seconds: the arithmetic under every way the
CLI and the window write a duration (each writes it in its own words)."""

from __future__ import annotations


def duration_parts(seconds: float) -> tuple[int, int, int, int]:
    """Whole ``(days, hours, minutes, seconds)`` of ``seconds`` (cut, not rounded; negative
    counts as zero)."""
    days, rest = divmod(max(0, int(seconds)), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return days, hours, minutes, secs
