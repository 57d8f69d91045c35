#!/bin/sh
# Add nexus-logger to the current user's application menu, with its icon and a `nexus-logger`
# command in ~/.local/bin. No root needed. The app itself stays in this folder.
#
#   ./install.sh           install, or upgrade (run the new version's install.sh)
#   ./install.sh --remove  remove the menu entry, icon and command
#
# The configuration (~/.config/nexus-logger), the saved events and logs
# (~/.local/share/nexus-logger, ~/.local/state/nexus-logger) are never touched.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
name=nexus-logger
data_home=${XDG_DATA_HOME:-$HOME/.local/share}
apps=$data_home/applications
icons=$data_home/icons/hicolor/256x256/apps
bin=$HOME/.local/bin

refresh() {
    command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$apps" || true
    command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -t "$data_home/icons/hicolor" || true
}

if [ "${1:-}" = "--remove" ]; then
    rm -f "$apps/$name.desktop" "$icons/$name.png"
    if [ -L "$bin/$name" ]; then rm -f "$bin/$name"; fi
    refresh
    echo "Removed the nexus-logger menu entry, icon and command."
    echo "Delete $here to remove the app itself; your configuration and logs are kept."
    exit 0
fi
if [ $# -gt 0 ]; then
    echo "usage: $0 [--remove]" >&2
    exit 2
fi
if [ ! -x "$here/$name" ]; then
    echo "install.sh: $here/$name is missing; run install.sh from the unpacked archive." >&2
    exit 1
fi

mkdir -p "$apps" "$icons" "$bin"
cp "$here/$name.png" "$icons/$name.png"
# Absolute paths, so the menu entry works even when ~/.local/bin is not on PATH.
sed -e "s|^Exec=.*|Exec=\"$here/$name\"|" -e "s|^TryExec=.*|TryExec=$here/$name|" \
    "$here/$name.desktop" > "$apps/$name.desktop.tmp"
mv "$apps/$name.desktop.tmp" "$apps/$name.desktop"
ln -sfn "$here/$name" "$bin/$name"
refresh
echo "Installed: menu entry $apps/$name.desktop, command $bin/$name -> $here/$name"
