"""What machine a benchmark ran on: figures mean little without it.

Shared by every script in ``bench/`` (they run as ``python bench/NAME.py``, so this module is
importable by its plain name).
"""

from __future__ import annotations

import os
import platform
import sys
import sysconfig
from pathlib import Path


def _proc_value(path: str, key: str) -> str | None:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def machine_facts() -> dict[str, str]:
    """CPU count and model, memory, OS, Python, and the load average now."""
    cpu = _proc_value("/proc/cpuinfo", "model name") or platform.processor() or platform.machine()
    mem_kb = _proc_value("/proc/meminfo", "MemTotal")
    ram = f"{int(mem_kb.split()[0]) / 1024 / 1024:.1f} GiB" if mem_kb else "unknown"
    load = "n/a"
    if hasattr(os, "getloadavg"):
        load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    return {
        "cpus": str(os.cpu_count()),
        "cpu": cpu,
        "ram": ram,
        "os": platform.platform(),
        "python": platform.python_version(),
        "load_average": load,
    }


def describe_machine() -> str:
    """One line for a benchmark's output and for docs/performance.md."""
    f = machine_facts()
    return (
        f"{f['cpus']} CPUs ({f['cpu']}), {f['ram']} RAM, {f['os']}, Python {f['python']}, "
        f"load average (1/5/15 min) {f['load_average']}"
    )


def user_environment(**extra: str) -> dict[str, str]:
    """This process's environment for the launched program, with Python's bytecode cache on.

    A user's installed nexus-logger (or the packaged app) runs from bytecode compiled once;
    ``PYTHONDONTWRITEBYTECODE`` (set on some development and CI machines) would make every
    launch compile the package's modules from source again, about 0.1 s here.
    """
    env = dict(os.environ, **extra)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def launch_command() -> list[str]:
    """How a user starts nexus-logger on this machine: the installed console script.

    Taken from this interpreter's scripts folder, not from ``PATH``: on a development machine
    ``PATH`` may hold a version manager's shim (pyenv's is a shell script that adds 0.1-0.25 s
    to every launch here), which no instrument PC runs. Without a script: ``python -m``.
    """
    folder = Path(sysconfig.get_path("scripts"))
    for name in ("nexus-logger.exe", "nexus-logger"):
        if (folder / name).is_file():
            return [str(folder / name)]
    return [sys.executable, "-m", "nexus_logger"]
