#!/usr/bin/env bash
# ferrometer.pc is relocatable: install the build tree into a temporary
# prefix, move that prefix elsewhere, then compile, link and run a C
# program with nothing but `pkg-config --cflags --libs ferrometer`
# (shared library), and again with `pkg-config --static --libs` against
# the static library alone.
# Usage: consumer_pkgconfig_test.sh BUILD_DIR WORK_DIR C_COMPILER SOURCE.c LIBDIR
set -euo pipefail
build="$1" work="$2" cc="$3" src="$4" libdir_rel="$5"

rm -rf "$work"
mkdir -p "$work"
cmake --install "$build" --prefix "$work/installed" >/dev/null
# Moved after installation: nothing may point at the install prefix.
mv "$work/installed" "$work/moved"
prefix="$(cd "$work/moved" && pwd -P)"

# Only this tree's ferrometer.pc is visible.
export PKG_CONFIG_LIBDIR="$prefix/$libdir_rel/pkgconfig"
unset PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR
echo "ferrometer.pc:"; sed 's/^/  /' "$PKG_CONFIG_LIBDIR/ferrometer.pc"

pc() { pkg-config "$@" ferrometer; }
got_prefix="$(cd "$(pc --variable=prefix)" && pwd -P)"
if [ "$got_prefix" != "$prefix" ]; then
  echo "FAIL: pkg-config prefix is $(pc --variable=prefix), want $prefix"
  exit 1
fi
libdir="$(pc --variable=libdir)"
echo "cflags: $(pc --cflags)"
echo "libs:   $(pc --libs)"
echo "static: $(pc --static --libs)"

# shellcheck disable=SC2046 # word splitting of the flags is intended
"$cc" -std=c99 -Wall -Wextra -Wpedantic -Werror $(pc --cflags) "$src" -o "$work/shared" $(pc --libs)
LD_LIBRARY_PATH="$libdir" "$work/shared"
# It ran against the moved tree's library.
LD_LIBRARY_PATH="$libdir" ldd "$work/shared" | grep -F "$libdir/libferrometer.so"

# Static: with the shared library gone, -lferrometer finds the archive and
# Libs.private must name every system library it needs.
rm -f "$libdir"/libferrometer.so*
# shellcheck disable=SC2046
"$cc" -std=c99 -Wall -Wextra -Wpedantic -Werror $(pc --cflags) "$src" -o "$work/static" $(pc --static --libs)
"$work/static"
echo PKG_CONFIG_CONSUMER_OK
