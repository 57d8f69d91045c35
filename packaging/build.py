"""Build nexus-logger for instrument PCs: ``python packaging/build.py [--onefile] [--archive]``.

From a clean checkout, with the build tools installed (``pip install -e ".[packaging]"``):

* default: the one-folder app, ``packaging/dist/nexus-logger/`` (what instrument PCs get);
* ``--onefile``: one self-unpacking executable, ``packaging/dist/onefile/nexus-logger[.exe]``;
* ``--archive``: also pack the one-folder app for copying: on Linux a ``.tar.gz`` with a
  ``.desktop`` entry, the icon and ``install.sh``; on Windows a ``.zip`` of the folder;
* ``--installer``: also compile the per-user Windows installer with Inno Setup (``ISCC.exe``).

Each build is checked before it is reported: the app runs its own ``--smoke`` self-test (start
headless, log a session in a temporary database, show the window) unless ``--no-smoke``.
PyInstaller cannot cross-compile: build the Windows app on Windows.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import nexus_packaging as nxp

SPEC = nxp.PACKAGING / "nexus_logger.spec"
LINUX_FILES = nxp.PACKAGING / "linux"
ISS = nxp.PACKAGING / "windows" / "nexus-logger.iss"
IS_WINDOWS = sys.platform == "win32"
EXE_SUFFIX = ".exe" if IS_WINDOWS else ""


class BuildError(Exception):
    """A build step failed; the message says which and what to do."""


def _say(text: str) -> None:
    print(f"build: {text}", flush=True)


def check_tools() -> None:
    """PyInstaller must be importable by this Python."""
    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        raise BuildError(
            "PyInstaller is not installed for this Python. Run: "
            f'{Path(sys.executable).name} -m pip install -e ".[packaging]"'
        ) from None


def run_pyinstaller(dist: Path, work: Path, *, onefile: bool, clean: bool, quiet: bool) -> None:
    """Run PyInstaller on the spec (in a child process, as PyInstaller expects)."""
    cmd = [
        sys.executable,
        "-m",
        "PyInstaller",
        "--noconfirm",
        "--distpath",
        str(dist),
        "--workpath",
        str(work),
        "--log-level",
        "WARN" if quiet else "INFO",
    ]
    if clean:
        cmd.append("--clean")
    cmd += [str(SPEC), "--"]
    if onefile:
        cmd.append("--onefile")
    _say(f"PyInstaller ({'one file' if onefile else 'one folder'}) -> {dist}")
    started = time.monotonic()
    result = subprocess.run(cmd, cwd=nxp.ROOT)
    if result.returncode != 0:
        raise BuildError(f"PyInstaller failed (exit {result.returncode}); see its output above.")
    _say(f"PyInstaller done in {time.monotonic() - started:.0f} s")


def smoke(executable: Path) -> None:
    """Run the built app's ``--smoke`` self-test; raise if it fails."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    _say(f"smoke test: {executable} --smoke")
    result = subprocess.run(
        [str(executable), "--smoke"], env=env, capture_output=True, text=True, timeout=300
    )
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0:
        raise BuildError(
            f"the built app failed its smoke test (exit {result.returncode}):\n{output}"
        )
    _say(output.splitlines()[-1] if output else "smoke test passed")


def smoke_executable(app: Path) -> Path:
    """The executable to smoke-test: the console twin on Windows (it prints), else the app."""
    if app.is_file():
        return app
    twin = app / f"{nxp.CLI_EXE}{EXE_SUFFIX}"
    return twin if twin.exists() else app / f"{nxp.GUI_EXE}{EXE_SUFFIX}"


def desktop_entry(version: str) -> str:
    """The Linux ``.desktop`` entry (the template with the version filled in)."""
    template = (LINUX_FILES / f"{nxp.APP_NAME}.desktop").read_text(encoding="utf-8")
    return template.replace("@VERSION@", version)


def make_linux_archive(app: Path, out_dir: Path, version: str) -> Path:
    """``nexus-logger-<version>-linux-<arch>.tar.gz``: the app folder, .desktop, icon, install.sh.

    Unpacked, the folder runs in place (``./nexus-logger``); ``./install.sh`` adds the menu entry
    and a ``nexus-logger`` command for the current user (no root needed).
    """
    top = f"{nxp.APP_NAME}-{version}"
    archive = out_dir / f"{top}-{nxp.platform_tag()}.tar.gz"
    extras = {
        f"{nxp.APP_NAME}.desktop": (desktop_entry(version).encode("utf-8"), 0o644),
        f"{nxp.APP_NAME}.png": (nxp.app_icon("png").read_bytes(), 0o644),
        "install.sh": ((LINUX_FILES / "install.sh").read_bytes(), 0o755),
        "README.txt": ((LINUX_FILES / "README.txt").read_bytes(), 0o644),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = archive.with_name(archive.name + ".part")

    def anonymous(info: tarfile.TarInfo) -> tarfile.TarInfo:
        # Files unpacked by another user belong to that user, not to the build account.
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        return info

    with tarfile.open(tmp, "w:gz", compresslevel=6) as tar:
        tar.add(app, arcname=top, filter=anonymous)
        now = int(time.time())
        for name, (data, mode) in extras.items():
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size, info.mode, info.mtime = len(data), mode, now
            tar.addfile(info, io.BytesIO(data))
    tmp.replace(archive)
    return archive


def make_zip_archive(app: Path, out_dir: Path, version: str) -> Path:
    """``nexus-logger-<version>-windows-<arch>.zip`` of the one-folder app (for a share copy)."""
    top = f"{nxp.APP_NAME}-{version}"
    archive = out_dir / f"{top}-{nxp.platform_tag()}.zip"
    out_dir.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(app.rglob("*")):
            if path.is_file():
                zf.write(path, f"{top}/{path.relative_to(app).as_posix()}")
    return archive


def find_iscc() -> Path | None:
    """Inno Setup's compiler: ``ISCC`` on PATH, ``%ISCC%``, or its default install folders."""
    candidates = [
        os.environ.get("ISCC", ""),
        shutil.which("ISCC") or "",
        shutil.which("iscc") or "",
    ]
    for base in (os.environ.get("ProgramFiles(x86)"), os.environ.get("ProgramFiles")):
        if base:
            candidates.append(str(Path(base) / "Inno Setup 6" / "ISCC.exe"))
    local = os.environ.get("LOCALAPPDATA")
    if local:
        candidates.append(str(Path(local) / "Programs" / "Inno Setup 6" / "ISCC.exe"))
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def make_installer(app: Path, out_dir: Path, version: str) -> Path:
    """Compile ``packaging/windows/nexus-logger.iss`` for the one-folder app."""
    if not IS_WINDOWS:
        raise BuildError("the Windows installer is built on Windows (Inno Setup is Windows-only).")
    iscc = find_iscc()
    if iscc is None:
        raise BuildError(
            "Inno Setup 6 was not found. Install it (https://jrsoftware.org/isdl.php, no admin "
            "needed with 'Install for me only') or set ISCC to the path of ISCC.exe."
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    cmd = [
        str(iscc),
        f"/DAppVersion={version}",
        f"/DAppVersionNumeric={'.'.join(map(str, nxp.version_tuple(version)))}",
        f"/DSourceDir={app}",
        f"/DOutputDir={out_dir}",
        f"/DIconFile={nxp.app_icon('ico')}",
        str(ISS),
    ]
    _say("Inno Setup: " + " ".join(cmd))
    if subprocess.run(cmd).returncode != 0:
        raise BuildError("Inno Setup failed; see its output above.")
    return out_dir / f"{nxp.APP_NAME}-{version}-setup.exe"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python packaging/build.py",
        description="Build the nexus-logger app for instrument PCs with PyInstaller.",
    )
    parser.add_argument(
        "--onefile", action="store_true", help="build one self-unpacking executable instead"
    )
    parser.add_argument(
        "--archive",
        action="store_true",
        help="also pack the one-folder app (.tar.gz with .desktop on Linux, .zip on Windows)",
    )
    parser.add_argument(
        "--installer", action="store_true", help="also build the Windows installer (Inno Setup)"
    )
    parser.add_argument(
        "--dist",
        type=Path,
        default=nxp.PACKAGING / "dist",
        help="output folder (default: packaging/dist)",
    )
    parser.add_argument(
        "--work",
        type=Path,
        default=nxp.PACKAGING / "build",
        help="PyInstaller's work folder (default: packaging/build)",
    )
    parser.add_argument(
        "--clean", action="store_true", help="empty PyInstaller's cache and work folder first"
    )
    parser.add_argument(
        "--no-smoke", action="store_true", help="do not run the built app's --smoke self-test"
    )
    parser.add_argument(
        "--skip-build",
        action="store_true",
        help="do not run PyInstaller: check and pack the app already in --dist (for example "
        "after signing its executables)",
    )
    parser.add_argument("--quiet", action="store_true", help="show only PyInstaller's warnings")
    args = parser.parse_args(argv)
    if args.onefile and (args.archive or args.installer):
        parser.error("--archive and --installer pack the one-folder app; drop --onefile")
    return args


def build(args: argparse.Namespace) -> list[Path]:
    """Run the requested steps; return the files and folders produced."""
    check_tools()
    version = nxp.package_version()
    dist, work = args.dist.resolve(), args.work.resolve()
    _say(f"nexus-logger {version} for {nxp.platform_tag()}")
    if args.clean and work.exists():
        shutil.rmtree(work)
    produced: list[Path] = []
    if args.onefile:
        target = dist / "onefile"
        if not args.skip_build:
            run_pyinstaller(
                target, work / "onefile", onefile=True, clean=args.clean, quiet=args.quiet
            )
        app = target / f"{nxp.GUI_EXE}{EXE_SUFFIX}"
    else:
        if not args.skip_build:
            run_pyinstaller(
                dist, work / "onedir", onefile=False, clean=args.clean, quiet=args.quiet
            )
        app = dist / nxp.APP_NAME
    if not app.exists():
        raise BuildError(
            f"{app} does not exist: "
            + (
                "build it first (without --skip-build)."
                if args.skip_build
                else "PyInstaller failed."
            )
        )
    produced.append(app)
    _say(f"{app} ({nxp.dir_size(app) / 1e6:.1f} MB)")
    if not args.no_smoke:
        smoke(smoke_executable(app))
    if args.archive:
        packer = make_zip_archive if IS_WINDOWS else make_linux_archive
        archive = packer(app, dist, version)
        produced.append(archive)
        _say(f"archive: {archive} ({archive.stat().st_size / 1e6:.1f} MB)")
    if args.installer:
        installer = make_installer(app, dist / "installer", version)
        produced.append(installer)
        _say(f"installer: {installer}")
    return produced


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        build(args)
    except BuildError as err:
        print(f"build: error: {err}", file=sys.stderr)
        return 1
    except FileNotFoundError as err:  # e.g. the icon in resources/
        print(f"build: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
