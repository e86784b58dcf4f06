#!/usr/bin/env bash
# The installed library as its users get it: `meson install` into a
# staging folder, then a program (example.c) built against the staged
# files alone with pkg-config, as C and as C++, linked to the shared
# library and to the static one, and run on a golden case.  The shared
# library must export the public API (segaudit_*) and nothing else.
#
#   check_install.sh BUILD_DIR GOLDEN_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
golden=$(cd "$2" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d /tmp/segaudit-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

DESTDIR=$tmp/stage meson install -C "$build" --no-rebuild --quiet >/dev/null
pc=$(find "$tmp/stage" -name segaudit.pc)
[ -n "$pc" ] || { echo "FAIL: no segaudit.pc installed"; exit 1; }
export PKG_CONFIG_PATH=$(dirname "$pc")
# the staged prefix in place of the installed one (a sysroot would also
# move the paths of the libraries it requires)
pcdef=--define-variable=prefix=$tmp/stage$(pkg-config --variable=prefix segaudit)
libdir=$(pkg-config "$pcdef" --variable=libdir segaudit)
for f in "$libdir/libsegaudit.so.0" "$libdir/libsegaudit.a"; do
    [ -e "$f" ] || { echo "FAIL: $f not installed"; exit 1; }
done

# only the public API is exported
others=$(nm -D --defined-only "$libdir/libsegaudit.so.0" |
         awk '$2 ~ /[TDBR]/ && $3 !~ /^segaudit_/' | head -5)
[ -z "$others" ] || { echo "FAIL: other symbols exported:"; echo "$others"; exit 1; }

case=$golden/three_image
want=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["num_issues_k"])' "$case/expected.json")
failed=0
run() { # name, then the command that builds $tmp/$name
    local name=$1
    shift
    if ! "$@" 2>"$tmp/$name.err"; then
        echo "FAIL: $name does not build:"; cat "$tmp/$name.err"; failed=1; return
    fi
    if ! LD_LIBRARY_PATH=$libdir "$tmp/$name" "$case/labels" "$case/probs.h5" >"$tmp/$name.out"; then
        echo "FAIL: $name failed"; failed=1; return
    fi
    if ! grep -q "^files: .*n_issues $want," "$tmp/$name.out" ||
       ! grep -q "^arrays: .*2 images" "$tmp/$name.out"; then
        echo "FAIL: $name printed:"; cat "$tmp/$name.out"
        echo "(expected n_issues $want from $case/expected.json)"; failed=1; return
    fi
    echo "ok: $name: $(head -1 "$tmp/$name.out")"
}
# shellcheck disable=SC2046
run c-shared cc -std=c11 -Wall -Werror "$here/example.c" -o "$tmp/c-shared" \
    $(pkg-config "$pcdef" --cflags --libs segaudit)
# shellcheck disable=SC2046
run cxx-shared c++ -x c++ -Wall -Werror "$here/example.c" -o "$tmp/cxx-shared" \
    $(pkg-config "$pcdef" --cflags --libs segaudit)
# the static library, with what it needs from pkg-config --static
# shellcheck disable=SC2046
run c-static cc -std=c11 -Wall -Werror "$here/example.c" -o "$tmp/c-static" \
    $(pkg-config "$pcdef" --cflags segaudit) "$libdir/libsegaudit.a" \
    $(pkg-config "$pcdef" --static --libs segaudit | sed 's/-lsegaudit//')
if [ "$failed" -eq 0 ] && ldd "$tmp/c-static" | grep -q libsegaudit; then
    echo "FAIL: the static build links libsegaudit.so"; failed=1
fi
exit "$failed"
