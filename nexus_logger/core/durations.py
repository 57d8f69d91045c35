"""A duration split into days, hours, minutes and seconds, and the words the window and the
command line both write it in (the Admin tab's table cells use a compact form of their own)."""

from __future__ import annotations


def duration_parts(seconds: float) -> tuple[int, int, int, int]:
    """Whole ``(days, hours, minutes, seconds)`` of ``seconds`` (cut, not rounded; negative
    counts as zero)."""
    days, rest = divmod(max(0, int(seconds)), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return days, hours, minutes, secs


def in_words(seconds: float) -> str:
    """A duration as the window's ended page and the CLI say it: ``45 s``, ``12 min 5 s``,
    ``3 h 20 min``, ``2 days 4 h`` (seconds only under ten minutes, rounded)."""
    days, hours, minutes, secs = duration_parts(round(seconds))
    if days:
        return f"{days} day{'s' if days != 1 else ''} {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s" if minutes < 10 and secs else f"{minutes} min"
    return f"{secs} s"
