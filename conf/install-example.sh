#!/bin/sh
# `meson install` helper: installs an example configuration file without ever
# replacing one an operator edited. When DIR/NAME exists and differs, it is
# kept and the new version goes beside it as DIR/NAME.dist (a Debian package
# does the same through conffiles, with dpkg's prompt).
#
#   install-example.sh SRC DIR
set -eu
src=$1
# DESTDIR (staged installs, packaging) as meson resolved it.
destdir=${MESON_INSTALL_DESTDIR_PREFIX%"$MESON_INSTALL_PREFIX"}
dir=$destdir$2
name=$(basename "$src")
mkdir -p "$dir"
if [ -e "$dir/$name" ] && ! cmp -s "$src" "$dir/$name"; then
    install -m 0644 "$src" "$dir/$name.dist"
    echo "certgate: kept $dir/$name (it differs from the example); the new version is $dir/$name.dist"
else
    install -m 0644 "$src" "$dir/$name"
    echo "Installing $src to $dir"
fi
