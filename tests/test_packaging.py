"""Packaging: the PyInstaller build, its ``--smoke`` self-test, the Linux archive, the helpers.

The tests marked ``packaging`` build the one-folder app once per run (about a minute) with
``packaging/build.py --archive``, run the built app's ``--smoke`` (also against PostgreSQL),
and unpack the archive and run it from there. The other tests are quick: the smoke test from
source, its refusal to touch a real database, and the build helpers.
"""

from __future__ import annotations

import configparser
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from types import ModuleType

import pytest

from nexus_logger import __version__

ROOT = Path(__file__).resolve().parents[1]
PACKAGING = ROOT / "packaging"
#: Requirement 4 of the packaging issue.
SIZE_BUDGET_BYTES = 150_000_000


def _load_helpers() -> ModuleType:
    """``packaging/nexus_packaging.py`` (the folder is not a package: it would shadow the
    ``packaging`` library that PyInstaller needs)."""
    spec = importlib.util.spec_from_file_location(
        "nexus_packaging", PACKAGING / "nexus_packaging.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("nexus_packaging", module)
    spec.loader.exec_module(module)
    return module


nxp = _load_helpers()


def _require_pyinstaller() -> None:
    if importlib.util.find_spec("PyInstaller") is None:
        pytest.fail('PyInstaller is not installed: pip install -e ".[packaging]" (see .ci/run)')


def _smoke_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("NX_DB_PATH", "NEXUS_LOGGER_DB", "NEXUS_LOGGER_CONFIG"):
        env.pop(name, None)
    env["NEXUS_LOGGER_HOME"] = str(home)
    env.pop("QT_QPA_PLATFORM", None)  # --smoke must go offscreen by itself
    return env


def _run(cmd: list[str], home: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, env=_smoke_env(home), capture_output=True, text=True, timeout=timeout
    )


def _assert_smoke_passed(result: subprocess.CompletedProcess[str], *, frozen: bool) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"smoke: nexus-logger {__version__} (")
    assert ("(frozen)" in lines[0]) is frozen, lines[0]
    assert re.search(r"drivers: SQLite [\d.]+, psycopg [\d.]+ \((binary|c),", output), output
    assert re.search(r"window shown at unix time \d+\.\d+", output), output
    qt = re.search(r"qt: Qt [\d.]+, prefix (.+), plug-ins (.+)$", result.stdout, re.MULTILINE)
    assert qt is not None, output
    if frozen:  # Qt takes its plug-ins from the app, not from where the wheel was built
        assert all("/_internal/PySide6/" in path for path in qt.groups()), qt.group(0)
    assert "session started by the window" in output
    assert "session ended with the End session button" in output
    assert "NexusLIMS pairing rule holds" in output
    assert lines[-1].startswith("smoke: OK in ")


# -- the smoke test, from source ------------------------------------------------------------


def test_smoke_from_source_passes(tmp_path: Path) -> None:
    result = _run([sys.executable, "-m", "nexus_logger", "--smoke"], tmp_path / "home")
    _assert_smoke_passed(result, frozen=False)
    # Nothing of the smoke test stays in the per-user folders (outbox, config, heartbeat).
    home = tmp_path / "home"
    leftovers = [p for p in home.rglob("*") if p.is_file() and "logs" not in p.parts]
    assert leftovers == []
    # ...but the log tells what it did.
    log = (home / "logs" / "nexus-logger.log").read_text(encoding="utf-8")
    assert "smoke: OK in" in log


def test_smoke_refuses_an_existing_nexuslims_database(tmp_path: Path, sqlite_db: str) -> None:
    before = Path(sqlite_db).read_bytes()
    result = _run(
        [sys.executable, "-m", "nexus_logger", "--smoke", "--db", sqlite_db], tmp_path / "home"
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "smoke: FAILED at database:" in result.stderr
    assert "give it a new, empty database" in result.stderr
    assert "Traceback" not in result.stderr
    assert Path(sqlite_db).read_bytes() == before


def test_smoke_in_process_leaves_the_environment_as_it_was(
    qapp, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from nexus_logger.core.db import engine as engines
    from nexus_logger.gui.smoke import run_smoke

    monkeypatch.setenv("NX_DB_PATH", str(tmp_path / "production.sqlite"))
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    home_before = os.environ["NEXUS_LOGGER_HOME"]
    assert run_smoke() == 0, capsys.readouterr()
    assert os.environ["NX_DB_PATH"] == str(tmp_path / "production.sqlite")
    assert os.environ["NEXUS_LOGGER_HOME"] == home_before
    assert not (tmp_path / "production.sqlite").exists()
    assert list(Path(home_before).rglob("*.sqlite")) == []
    assert engines._default_target is None
    assert capsys.readouterr().out.splitlines()[-1].startswith("smoke: OK in ")


@pytest.mark.postgres
def test_smoke_from_source_on_postgres(tmp_path: Path, pg_cluster) -> None:
    url = pg_cluster.create_database()
    result = _run([sys.executable, "-m", "nexus_logger", "--smoke", "--db", url], tmp_path / "h")
    _assert_smoke_passed(result, frozen=False)
    assert "database: created postgresql+psycopg://" in result.stdout


# -- build helpers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("0.1.0", (0, 1, 0, 0)),
        ("2.5", (2, 5, 0, 0)),
        ("1.2.3.4.5", (1, 2, 3, 4)),
        ("0.2.0rc1", (0, 2, 0, 0)),
        ("1.0.0.dev3+g1234", (1, 0, 0, 0)),
    ],
)
def test_version_tuple(version: str, expected: tuple[int, int, int, int]) -> None:
    assert nxp.version_tuple(version) == expected


@pytest.mark.parametrize("version", ["", "dev", "70000.1"])
def test_version_tuple_refuses_what_windows_cannot_hold(version: str) -> None:
    with pytest.raises(ValueError):
        nxp.version_tuple(version)


def test_package_version_is_read_from_the_source() -> None:
    assert nxp.package_version() == __version__


def test_windows_version_resource_carries_the_package_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _require_pyinstaller()
    if sys.platform != "win32":
        # The module imports pefile and pywin32 helpers, which PyInstaller installs on Windows
        # only; the version structures parsed and serialised here do not use them (only
        # reading and patching an .exe does), so stand-ins satisfy the imports.
        import PyInstaller.compat

        monkeypatch.setitem(sys.modules, "pefile", ModuleType("pefile"))
        monkeypatch.setattr(PyInstaller.compat, "win32api", None, raising=False)
    monkeypatch.delitem(sys.modules, "PyInstaller.utils.win32.versioninfo", raising=False)
    from PyInstaller.utils.win32.versioninfo import load_version_info_from_text_file

    path = nxp.write_version_file(tmp_path, "3.14.15", nxp.GUI_EXE)
    info = load_version_info_from_text_file(str(path))
    assert (info.ffi.fileVersionMS, info.ffi.fileVersionLS) == ((3 << 16) | 14, 15 << 16)
    assert info.ffi.productVersionMS == info.ffi.fileVersionMS
    raw = info.toRaw()  # the bytes that go into the .exe resource
    for text in ("3.14.15", "nexus-logger.exe", "nexus-logger", "FileVersion"):
        assert text.encode("utf-16-le") in raw
    # The real build uses the package's version.
    current = nxp.write_version_file(tmp_path / "current", __version__)
    assert f"StringStruct('ProductVersion', '{__version__}')" in current.read_text("utf-8")


def test_prune_binaries_drops_only_what_excluded_files_needed() -> None:
    # A dependency graph as ldd reports it (transitive). "gtk" is an excluded plugin.
    graph = {
        "/src/qgtk3.so": ["libcairo.so.2", "libpango.so.0", "libQt6Gui.so.6"],
        "/src/libcairo.so.2": ["libpixman.so.0"],
        "/src/libpango.so.0": [],
        "/src/libpixman.so.0": [],
        "/src/libQt6Gui.so.6": ["libfreetype.so.6"],
        "/src/libfreetype.so.6": [],
        "/src/QtGui.abi3.so": ["libQt6Gui.so.6", "libfreetype.so.6", "libpango.so.0"],
        "/src/libdlopened.so": [],
    }

    def imports(source: str) -> list[tuple[str, str]]:
        return [(name, f"/sys/{name}") for name in graph[source]]

    toc = [
        ("PySide6/Qt/plugins/platformthemes/libqgtk3.so", "/src/qgtk3.so", "BINARY"),
        ("libcairo.so.2", "/src/libcairo.so.2", "BINARY"),
        ("libpango.so.0", "/src/libpango.so.0", "BINARY"),
        ("libpixman.so.0", "/src/libpixman.so.0", "BINARY"),
        ("PySide6/Qt/lib/libQt6Gui.so.6", "/src/libQt6Gui.so.6", "BINARY"),
        ("libfreetype.so.6", "/src/libfreetype.so.6", "BINARY"),
        ("PySide6/QtGui.abi3.so", "/src/QtGui.abi3.so", "EXTENSION"),
        ("libdlopened.so", "/src/libdlopened.so", "BINARY"),
    ]
    kept = [entry[0] for entry in nxp.prune_binaries(toc, imports=imports)]
    assert kept == [
        "libpango.so.0",  # also linked by a kept module
        "PySide6/Qt/lib/libQt6Gui.so.6",
        "libfreetype.so.6",
        "PySide6/QtGui.abi3.so",
        "libdlopened.so",  # linked by nothing: loaded by name at run time, so kept
    ]


def test_drop_dangling_symlinks() -> None:
    binaries = [("PySide6/Qt/lib/libQt6Gui.so.6", "/x", "BINARY")]
    datas = [
        ("libQt6Gui.so.6", "PySide6/Qt/lib/libQt6Gui.so.6", "SYMLINK"),
        ("libQt6EglFsKmsSupport.so.6", "PySide6/Qt/lib/libQt6EglFsKmsSupport.so.6", "SYMLINK"),
        ("tzdata/zoneinfo/UTC", "/y", "DATA"),
    ]
    kept_binaries, kept_datas = nxp.drop_dangling_symlinks(binaries, datas)
    assert kept_binaries == binaries
    assert [d[0] for d in kept_datas] == ["libQt6Gui.so.6", "tzdata/zoneinfo/UTC"]


def test_exclusions_keep_what_the_app_needs() -> None:
    needed = [
        "PySide6/Qt/plugins/platforms/libqxcb.so",
        "PySide6/Qt/plugins/platforms/libqoffscreen.so",
        "PySide6/Qt/plugins/platforms/libqwayland.so",
        "PySide6/plugins/platforms/qwindows.dll",
        "PySide6/plugins/styles/qmodernwindowsstyle.dll",
        "PySide6/Qt/plugins/imageformats/libqsvg.so",
        "PySide6/Qt/plugins/imageformats/libqico.so",
        "PySide6/Qt/plugins/iconengines/libqsvgicon.so",
        "PySide6/Qt/lib/libQt6Network.so.6",
        "resources/nexus-logger.svg",
    ]
    assert [path for path in needed if nxp.is_excluded(path)] == []
    assert nxp.is_excluded("PySide6/Qt/translations/qtbase_de.qm")
    assert nxp.is_excluded("PySide6/plugins/imageformats/qpdf.dll")
    assert nxp.is_excluded("PySide6\\opengl32sw.dll")


def test_the_qt_run_time_hook_is_dropped_and_ours_sets_the_same_paths(tmp_path: Path) -> None:
    scripts = [
        ("pyiboot01_bootstrap", "/x/pyiboot01_bootstrap.py", "PYSOURCE"),
        ("rth_qt_paths", str(PACKAGING / "rth_qt_paths.py"), "PYSOURCE"),
        ("pyi_rth_pyside6", "/x/pyi_rth_pyside6.py", "PYSOURCE"),
        ("launcher", str(PACKAGING / "launcher.py"), "PYSOURCE"),
    ]
    assert [name for name, *_ in nxp.drop_runtime_hooks(scripts)] == [
        "pyiboot01_bootstrap",
        "rth_qt_paths",
        "launcher",
    ]
    # Our hook, run as the bootloader runs it: the paths set, and Qt not imported.
    probe = (
        "import runpy, sys, os, json\n"
        f"sys._MEIPASS = {str(tmp_path)!r}\n"
        f"runpy.run_path({str(PACKAGING / 'rth_qt_paths.py')!r})\n"
        "print(json.dumps([os.environ['QT_PLUGIN_PATH'], os.environ['QML2_IMPORT_PATH'],"
        " [m for m in sys.modules if m.startswith(('PySide6', 'shiboken6'))],"
        " os.environ['PATH'], os.environ.get('PYSIDE_DISABLE_INTERNAL_QT_CONF')]))\n"
    )
    for platform, qt in (
        (sys.platform, tmp_path / "PySide6" / "Qt"),  # Linux: the wheel keeps Qt in PySide6/Qt
        ("win32", tmp_path / "PySide6"),  # Windows: plugins/ right in PySide6/
    ):
        out = subprocess.run(
            [sys.executable, "-c", f"import sys\nsys.platform = {platform!r}\n{probe}"],
            env={**os.environ, "PATH": "/usr/bin", "PYSIDE_DISABLE_INTERNAL_QT_CONF": "1"},
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        plugin_path, qml_path, qt_modules, path, disabled = json.loads(out.stdout)
        assert (plugin_path, qml_path, qt_modules) == (str(qt / "plugins"), str(qt / "qml"), [])
        # PATH leads to the app's own DLLs on Windows (OpenSSL for QtNetwork), untouched else.
        expected = f"{tmp_path}{os.pathsep}/usr/bin" if platform == "win32" else "/usr/bin"
        assert path == expected
        assert disabled is None  # PySide6's qt.conf (the Qt prefix inside the app) stays on


def test_resources_bundle_the_icons_not_the_script() -> None:
    datas = nxp.resource_datas()
    names = sorted(Path(source).name for source, _ in datas)
    assert names == ["nexus-logger.ico", "nexus-logger.png", "nexus-logger.svg"]
    assert {dest for _, dest in datas} == {"resources"}


def test_desktop_entry(tmp_path: Path) -> None:
    build = _load_build_script()
    text = build.desktop_entry("9.8.7")
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # keys are case-sensitive
    parser.read_string(text)
    entry = parser["Desktop Entry"]
    assert entry["Type"] == "Application"
    assert entry["Exec"] == entry["TryExec"] == "nexus-logger"
    assert entry["Icon"] == "nexus-logger"
    assert entry["Terminal"] == "false"
    assert entry["X-NexusLogger-Version"] == "9.8.7"
    assert entry["Categories"].endswith(";")
    validator = shutil.which("desktop-file-validate")
    if validator:
        path = tmp_path / "nexus-logger.desktop"
        path.write_text(text, encoding="utf-8")
        result = subprocess.run([validator, str(path)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


def test_inno_setup_script_is_per_user_and_upgrade_safe() -> None:
    script = (PACKAGING / "windows" / "nexus-logger.iss").read_text(encoding="utf-8")
    sections: dict[str, list[str]] = {}
    current = ""
    for line in script.splitlines():
        line = line.strip()
        if not line or line.startswith(";"):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
            sections[current] = []
        elif current:
            sections[current].append(line)
    setup = dict(line.split("=", 1) for line in sections["Setup"])
    assert setup["PrivilegesRequired"] == "lowest"  # no admin rights
    assert setup["DefaultDirName"].startswith("{autopf}")  # %LOCALAPPDATA%\Programs per user
    assert re.fullmatch(r"\{\{[0-9A-F-]{36}\}", setup["AppId"])  # fixed: upgrades find it
    assert setup["UsePreviousAppDir"] == "yes"
    assert any("{autoprograms}" in line for line in sections["Icons"])
    assert any("{autodesktop}" in line for line in sections["Icons"])
    assert any("{app}\\_internal" in line for line in sections["InstallDelete"])
    # Only the program folder is ever deleted: the user's configuration, outbox and logs
    # (%LOCALAPPDATA%\nexus-logger) survive upgrades and uninstalling.
    for section in ("InstallDelete", "UninstallDelete"):
        targets = [re.search(r'Name:\s*"([^"]+)"', line).group(1) for line in sections[section]]
        assert targets and all(t.startswith("{app}\\") for t in targets), targets


def _load_build_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("nexus_build", PACKAGING / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- the built app (slow) --------------------------------------------------------------------


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One-folder app and its archive, built once by ``packaging/build.py --archive``."""
    _require_pyinstaller()
    out = tmp_path_factory.mktemp("packaged")
    cmd = [
        sys.executable,
        str(PACKAGING / "build.py"),
        "--archive",
        "--no-smoke",  # the tests below run it and look at its output
        "--quiet",
        "--dist",
        str(out / "dist"),
        "--work",
        str(out / "work"),
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    archives = sorted((out / "dist").glob(f"nexus-logger-{__version__}-*.tar.gz"))
    assert len(archives) == 1, list((out / "dist").iterdir())
    return {"app": out / "dist" / "nexus-logger", "archive": archives[0], "tmp": out}


@pytest.mark.packaging
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_one_folder_build_passes_its_smoke_test(built: dict[str, Path], tmp_path: Path) -> None:
    app = built["app"]
    exe = app / "nexus-logger"
    assert exe.is_file() and os.access(exe, os.X_OK)
    result = _run([str(exe), "--smoke"], tmp_path / "home")
    _assert_smoke_passed(result, frozen=True)
    version = _run([str(exe), "--version"], tmp_path / "home")
    assert version.stdout.strip() == f"nexus-logger {__version__}"


@pytest.mark.packaging
@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="LD_DEBUG is glibc's")
def test_one_folder_build_headless_commands_load_no_qt(
    built: dict[str, Path], tmp_path: Path, sqlite_db: str
) -> None:
    """A command that opens no window never loads Qt (issue 19); the window does (control)."""
    exe = str(built["app"] / "nexus-logger")

    def libraries(*argv: str) -> str:
        env = _smoke_env(tmp_path / "home")
        env["LD_DEBUG"] = "libs"  # the dynamic loader names every library it initialises
        result = subprocess.run([exe, *argv], env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr[-3000:]
        return "\n".join(line for line in result.stderr.splitlines() if "calling init:" in line)

    status = libraries("--db", sqlite_db, "session", "status", "--instrument", "TEST-TEM-001")
    assert "_sqlite3" in status  # the loader's trace is there: the database was read
    assert "libQt6Core" not in status
    assert "libQt6Core" not in libraries("--help")
    assert "libQt6Core" in libraries("--smoke")


@pytest.mark.packaging
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_one_folder_build_contents(built: dict[str, Path]) -> None:
    app = built["app"]
    internal = app / "_internal"
    size = nxp.dir_size(app)
    assert size < SIZE_BUDGET_BYTES, f"{size / 1e6:.1f} MB"
    dangling = [str(p) for p in app.rglob("*") if p.is_symlink() and not p.exists()]
    assert dangling == []
    for name in ("nexus-logger.ico", "nexus-logger.png", "nexus-logger.svg"):
        assert (internal / "resources" / name).is_file()
    assert not (internal / "resources" / "make_icons.py").exists()
    assert (internal / "tzdata" / "zoneinfo" / "Asia" / "Kolkata").is_file()
    assert list(internal.glob("psycopg_binary/_psycopg*"))
    assert list(internal.glob("python3.11/lib-dynload/_sqlite3*")) or list(
        internal.glob("_sqlite3*")
    )
    plugins = internal / "PySide6" / "Qt" / "plugins"
    assert (plugins / "platforms" / "libqxcb.so").is_file()
    assert (plugins / "platforms" / "libqoffscreen.so").is_file()
    # Left out on purpose (see packaging/nexus_packaging.py).
    assert not (internal / "PySide6" / "Qt" / "translations").exists()
    assert not (plugins / "platformthemes" / "libqgtk3.so").exists()
    assert not list(internal.glob("libcairo*"))
    for module in ("numpy", "pytest", "IPython", "PySide6/QtQml.abi3.so"):
        assert not (internal / module).exists(), module


@pytest.mark.packaging
@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_one_folder_build_smoke_on_postgres(
    built: dict[str, Path], pg_cluster, tmp_path: Path
) -> None:
    url = pg_cluster.create_database()
    result = _run([str(built["app"] / "nexus-logger"), "--smoke", "--db", url], tmp_path / "h")
    _assert_smoke_passed(result, frozen=True)
    assert "database: created postgresql+psycopg://" in result.stdout


@pytest.mark.packaging
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_linux_archive_unpacks_runs_and_installs(built: dict[str, Path], tmp_path: Path) -> None:
    unpacked = tmp_path / "opt with space"
    with tarfile.open(built["archive"]) as tar:
        names = tar.getnames()
        tar.extractall(unpacked, filter="tar")
    top = unpacked / f"nexus-logger-{__version__}"
    assert {n.split("/", 1)[0] for n in names} == {top.name}
    for name in ("nexus-logger", "install.sh", "nexus-logger.desktop", "nexus-logger.png"):
        assert (top / name).is_file(), name
    assert os.access(top / "install.sh", os.X_OK)
    assert f"X-NexusLogger-Version={__version__}" in (top / "nexus-logger.desktop").read_text()

    _assert_smoke_passed(_run([str(top / "nexus-logger"), "--smoke"], tmp_path / "h1"), frozen=True)

    # install.sh: per-user menu entry, icon and command; --remove takes them away again.
    home = tmp_path / "user"
    env = dict(os.environ, HOME=str(home))
    env.pop("XDG_DATA_HOME", None)
    installed = subprocess.run(
        [str(top / "install.sh")], env=env, capture_output=True, text=True, timeout=60
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    desktop = home / ".local/share/applications/nexus-logger.desktop"
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str
    entry.read_string(desktop.read_text(encoding="utf-8"))
    assert entry["Desktop Entry"]["Exec"] == f'"{top / "nexus-logger"}"'
    assert entry["Desktop Entry"]["TryExec"] == str(top / "nexus-logger")
    assert (home / ".local/share/icons/hicolor/256x256/apps/nexus-logger.png").is_file()
    command = home / ".local/bin/nexus-logger"
    version = _run([str(command), "--version"], tmp_path / "h2")  # through the symlink
    assert version.returncode == 0 and __version__ in version.stdout, version.stderr

    removed = subprocess.run(
        [str(top / "install.sh"), "--remove"], env=env, capture_output=True, text=True, timeout=60
    )
    assert removed.returncode == 0, removed.stderr
    assert not desktop.exists() and not command.exists()
    assert (top / "nexus-logger").is_file()  # the app itself stays


@pytest.mark.packaging
@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_one_folder_build_runs_the_bridge(
    built: dict[str, Path], pg_cluster, tmp_path: Path
) -> None:
    """The packaged app includes ``bridge`` with everything it imports lazily."""
    import sqlite3

    from tests.helpers_bridge import add_session

    url = pg_cluster.create_database()
    from nexus_logger.core.db.instruments import add_instrument
    from nexus_logger.core.db.schema import init_db

    init_db(url)
    add_instrument("TEST-TEM-001", display_name="TEM", timezone="America/New_York", engine=url)
    sid = add_session(url, 1)
    target = tmp_path / "nexuslims.sqlite"
    exe = str(built["app"] / "nexus-logger")
    result = _run([exe, "bridge", "--from", url, "--to", str(target), "--create"], tmp_path / "h")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Copied 1 session(s) to NexusLIMS" in result.stdout
    with sqlite3.connect(target) as conn:
        assert conn.execute("SELECT DISTINCT session_identifier FROM session_log").fetchall() == [
            (sid,)
        ]
    status = _run([exe, "bridge", "--from", url, "--status"], tmp_path / "h")
    assert status.returncode == 0 and "Last successful bridge run" in status.stdout
