"""Helpers shared by ``nexus_logger.spec``, ``build.py``, the packaging test and the benchmark.

Kept in a plain module (no PyInstaller import at module level) so that the version, the Windows
version resource, the icon and the list of what the frozen app leaves out are computed in one
place and can be tested without running a build. The folder is not a Python package on purpose:
its name would shadow the ``packaging`` library that PyInstaller itself needs.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
import sys
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGING = ROOT / "packaging"
RESOURCES = ROOT / "resources"

APP_NAME = "nexus-logger"
#: The windowed executable (what users start) and the console twin for IT scripts: a windowed
#: Windows executable has no stdout, so ``nexus-logger.exe doctor`` would print nothing.
GUI_EXE = APP_NAME
CLI_EXE = f"{APP_NAME}-cli"
COMPANY = "NexusLIMS facility"
DESCRIPTION = "nexus-logger: session logger for NexusLIMS instruments"
COPYRIGHT = "MIT License"

_VERSION_RE = re.compile(r"""^__version__\s*=\s*["']([^"']+)["']""", re.MULTILINE)

#: Python packages the app never imports at run time. PyInstaller follows every import it sees,
#: including optional ones inside dependencies (psycopg's numpy adapters, for one), which would
#: otherwise drag test tools and scientific stacks from the build environment into the app.
EXCLUDED_MODULES = (
    "tkinter",
    "_tkinter",
    "unittest",
    "pydoc_data",
    "lib2to3",
    "test",
    "idlelib",
    "ensurepip",
    "venv",
    "distutils",
    "setuptools",
    "pkg_resources",
    "pip",
    "pytest",
    "_pytest",
    "pytestqt",
    "pluggy",
    "hypothesis",
    "IPython",
    "jedi",
    "parso",
    "numpy",
    "scipy",
    "sympy",
    "matplotlib",
    "PIL",
    "pydantic",
    "importlinter",
    "grimp",
    "ruff",
    "sqlalchemy.testing",
    "PyInstaller",
    # No process pools: without this, PyInstaller's multiprocessing start-up hook imports
    # the package at every launch (only concurrent.futures' process pool refers to it).
    "multiprocessing",
    "concurrent.futures.process",
    # Not 'ssl' (with libssl/libcrypto): psycopg-binary imports it; the smoke test shows it.
    # Qt modules the app does not use (it needs QtCore, QtGui, QtWidgets, QtNetwork, QtSvg).
    "PySide6.QtQml",
    "PySide6.QtQuick",
    "PySide6.QtQuickWidgets",
    "PySide6.QtQuickControls2",
    "PySide6.QtPdf",
    "PySide6.QtPdfWidgets",
    "PySide6.QtOpenGL",
    "PySide6.QtOpenGLWidgets",
    "PySide6.QtPrintSupport",
    "PySide6.QtSql",
    "PySide6.QtTest",
    "PySide6.QtDesigner",
    "PySide6.QtUiTools",
    "PySide6.QtHelp",
    "PySide6.QtXml",
    "PySide6.QtConcurrent",
    "PySide6.QtDBus",
    "PySide6.QtStateMachine",
)

#: Files collected by the Qt hooks that the app does not need, as glob patterns on the path
#: inside the bundle (forward slashes, Linux and Windows names). Each saves space and, in the
#: one-file build, unpacking time at every launch. Libraries that only these files needed are
#: dropped with them (:func:`prune_binaries`).
EXCLUDED_FILES = (
    # Qt's own translations: the app's text is English and it shows no Qt standard dialog
    # whose buttons would need translating.
    "PySide6/Qt/translations/*",
    "PySide6/translations/*",
    # Image formats other than PNG (built into QtGui), SVG and ICO (the app's icons).
    "PySide6/*plugins/imageformats/*qgif*",
    "PySide6/*plugins/imageformats/*qicns*",
    "PySide6/*plugins/imageformats/*qjpeg*",
    "PySide6/*plugins/imageformats/*qpdf*",
    "PySide6/*plugins/imageformats/*qtga*",
    "PySide6/*plugins/imageformats/*qtiff*",
    "PySide6/*plugins/imageformats/*qwbmp*",
    "PySide6/*plugins/imageformats/*qwebp*",
    # Display back-ends for embedded boards, VNC and Vulkan displays (no desktop PC uses them).
    "PySide6/*plugins/platforms/*qeglfs*",
    "PySide6/*plugins/platforms/*qlinuxfb*",
    "PySide6/*plugins/platforms/*qvnc*",
    "PySide6/*plugins/platforms/*qvkkhrdisplay*",
    "PySide6/*plugins/platforms/*qminimalegl*",
    "PySide6/*plugins/platforms/*qdirect2d*",
    "PySide6/*plugins/egldeviceintegrations/*",
    "PySide6/*plugins/generic/*",
    # The GTK theme plugin pulls in GTK's whole stack (cairo, pango, gdk-pixbuf, ...) from the
    # build machine, which then clashes with the desktop's own GTK; Qt's Fusion style is used.
    "PySide6/*plugins/platformthemes/*qgtk3*",
    # TLS and network-information back-ends: the app's only socket is the local one that keeps
    # a single window per user (QLocalServer); the database drivers bring their own TLS.
    "PySide6/*plugins/tls/*",
    "PySide6/*plugins/networkinformation/*",
    # Windows: the 20 MB software OpenGL fallback (the app draws plain widgets, no OpenGL).
    "PySide6/opengl32sw.dll",
)


#: What the one-file build compresses, by PyInstaller type code: only the small Python and
#: data entries. The libraries (most of the size) are stored as they are, because the one-file
#: app unpacks itself at every launch and inflating them cost more time than it saved.
ONEFILE_COMPRESSION = {
    "BINARY": False,
    "EXTENSION": False,
    "EXECUTABLE": False,
    "DATA": True,
    "PYSOURCE": True,
    "PYMODULE": True,
    "SPLASH": True,
    "PYZ": False,  # its modules are compressed one by one already
    "SYMLINK": False,
}


def package_version(root: Path = ROOT) -> str:
    """``nexus_logger.__version__``, read from the source (the package is not imported)."""
    text = (root / "nexus_logger" / "__init__.py").read_text(encoding="utf-8")
    match = _VERSION_RE.search(text)
    if match is None:
        raise RuntimeError("nexus_logger/__init__.py has no __version__ = '...' line")
    return match.group(1)


def version_tuple(version: str) -> tuple[int, int, int, int]:
    """The four numbers of a Windows version resource: ``0.2.0rc1`` -> ``(0, 2, 0, 0)``."""
    match = re.match(r"^\s*v?(\d+(?:\.\d+)*)", version)
    if match is None:
        raise ValueError(f"{version!r} does not start with a numeric release such as 1.2.3")
    numbers = [int(part) for part in match.group(1).split(".")][:4]
    if any(n > 0xFFFF for n in numbers):
        raise ValueError(f"{version!r}: Windows version numbers must each be at most 65535")
    numbers += [0] * (4 - len(numbers))
    return (numbers[0], numbers[1], numbers[2], numbers[3])


def version_info_text(version: str, exe_name: str = GUI_EXE) -> str:
    """The Windows version resource in PyInstaller's text form (``EXE(version=<file>)``).

    Explorer shows these strings in the file's Properties > Details tab, and IT inventory tools
    read the file version from it to tell which release an instrument PC runs.
    """
    numbers = version_tuple(version)
    strings = {
        "CompanyName": COMPANY,
        "FileDescription": DESCRIPTION,
        "FileVersion": version,
        "InternalName": exe_name,
        "LegalCopyright": COPYRIGHT,
        "OriginalFilename": f"{exe_name}.exe",
        "ProductName": APP_NAME,
        "ProductVersion": version,
    }
    struct_lines = ",\n          ".join(f"StringStruct({k!r}, {v!r})" for k, v in strings.items())
    return f"""# UTF-8
# Generated by packaging/nexus_packaging.py from nexus_logger.__version__ ({version}).
VSVersionInfo(
  ffi=FixedFileInfo(
    filevers={numbers!r},
    prodvers={numbers!r},
    mask=0x3f,
    flags=0x0,
    OS=0x40004,
    fileType=0x1,
    subtype=0x0,
    date=(0, 0)
  ),
  kids=[
    StringFileInfo([
      StringTable(
        '040904B0',
        [
          {struct_lines}
        ])
    ]),
    VarFileInfo([VarStruct('Translation', [1033, 1200])])
  ]
)
"""


def write_version_file(directory: Path, version: str, exe_name: str = GUI_EXE) -> Path:
    """Write :func:`version_info_text` to ``directory`` and return the file."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"version-info-{exe_name}.txt"
    path.write_text(version_info_text(version, exe_name), encoding="utf-8")
    return path


#: Run-time resources: the icon files in ``resources/`` (not the script that renders them).
RESOURCE_PATTERNS = ("*.svg", "*.png", "*.ico")
#: The bundle folder they go to: ``gui/icons.py`` looks in ``sys._MEIPASS/resources``.
RESOURCE_DEST = "resources"
ICON_STEM = APP_NAME


def resource_datas(resources: Path = RESOURCES) -> list[tuple[str, str]]:
    """``(source, bundle folder)`` pairs for ``Analysis(datas=...)``: the app's icon files."""
    files = sorted({f for pattern in RESOURCE_PATTERNS for f in resources.glob(pattern)})
    return [(str(f), RESOURCE_DEST) for f in files]


def app_icon(ext: str, resources: Path = RESOURCES) -> Path:
    """``resources/nexus-logger.<ext>``: ``ico`` for Windows, ``png`` for Linux desktops.

    The icon is part of the product, so a missing file stops the build with a clear message
    instead of producing an app with the generic executable icon.
    """
    path = resources / f"{ICON_STEM}.{ext}"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing; render the icons with 'python resources/make_icons.py'."
        )
    return path


def is_excluded(dest: str, patterns: Iterable[str] = EXCLUDED_FILES) -> bool:
    """True when the bundle path ``dest`` matches one of ``patterns``."""
    normal = dest.replace("\\", "/")
    return any(fnmatch.fnmatchcase(normal, pattern) for pattern in patterns)


def filter_toc(toc: list, patterns: Iterable[str] = EXCLUDED_FILES) -> list:
    """``toc`` (PyInstaller's ``(dest, source, kind)`` entries) without the excluded files."""
    patterns = tuple(patterns)
    return [entry for entry in toc if not is_excluded(entry[0], patterns)]


def _soname(name: str) -> str:
    return Path(name).name.lower()


def prune_binaries(binaries: list, patterns: Iterable[str] = EXCLUDED_FILES, imports=None) -> list:
    """``binaries`` without the excluded files and without the libraries only they needed.

    PyInstaller collects every library a collected plugin links to (for the GTK theme plugin:
    cairo, pango, gdk-pixbuf, ...). After the exclusions, a library that was linked by an
    excluded file and by no kept one is dropped too. Libraries that nothing links to (loaded
    at run time by name) are always kept. ``imports(path)`` returns ``(name, path)`` pairs as
    :func:`PyInstaller.depend.bindepend.get_imports` does (the default).
    """
    if imports is None:
        from PyInstaller.depend.bindepend import get_imports as imports

    def linked(toc: Iterable) -> set[str]:
        names: set[str] = set()
        for _dest, source, kind in toc:
            if kind not in ("BINARY", "EXTENSION"):
                continue
            try:
                found = imports(source)
            except Exception:  # an unreadable file: assume it links nothing extra
                continue
            for name, path in found:
                names.add(_soname(name))
                if path:
                    names.add(_soname(path))
        return names

    before = linked(binaries)
    kept = filter_toc(binaries, patterns)
    while True:  # an orphan may itself have kept another library alive: repeat until stable
        orphans = before - linked(kept)
        pruned = [entry for entry in kept if _soname(entry[0]) not in orphans]
        if len(pruned) == len(kept):
            return kept
        kept = pruned


def drop_dangling_symlinks(binaries: list, datas: list) -> tuple[list, list]:
    """Both lists without the symbolic links whose target is no longer collected.

    PyInstaller adds links such as ``libQt6Gui.so.6 -> PySide6/Qt/lib/libQt6Gui.so.6`` next
    to the executable; a link to a library :func:`prune_binaries` dropped would dangle.
    """
    present = {
        entry[0].replace("\\", "/") for entry in (*binaries, *datas) if entry[2] != "SYMLINK"
    }

    def keep(entry: tuple) -> bool:
        dest, target, kind = entry
        if kind != "SYMLINK":
            return True
        dest = dest.replace("\\", "/")
        resolved = posixpath.normpath(
            posixpath.join(posixpath.dirname(dest), target.replace("\\", "/"))
        )
        return resolved in present

    return [e for e in binaries if keep(e)], [e for e in datas if keep(e)]


#: PyInstaller run-time hooks the app does without. ``pyi_rth_pyside6`` imports
#: ``PySide6.QtCore`` before ``main()``, so every headless command loaded Qt (about 0.1 s);
#: ``packaging/rth_qt_paths.py`` sets the same search paths without it.
DROPPED_RUNTIME_HOOKS = ("pyi_rth_pyside6",)


def drop_runtime_hooks(scripts: list, names: Iterable[str] = DROPPED_RUNTIME_HOOKS) -> list:
    """``scripts`` (an Analysis's ``(name, path, kind)`` entries) without the hooks ``names``."""
    dropped = set(names)
    return [entry for entry in scripts if entry[0] not in dropped]


def platform_tag() -> str:
    """``linux-x86_64``, ``windows-amd64``, ... for archive names."""
    import platform

    system = {"win32": "windows", "darwin": "macos"}.get(sys.platform, sys.platform)
    if system.startswith("linux"):
        system = "linux"
    return f"{system}-{platform.machine().lower() or 'unknown'}"


def dir_size(path: Path) -> int:
    """Total size in bytes of the files under ``path`` (symbolic links not followed)."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())
