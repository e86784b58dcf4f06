#!/usr/bin/env bash
# Lints the report page's script, src/report/page.js, with ESLint: the
# recommended rules and browser globals (eslint.config.cjs here).  Run by
# meson from tests/ as html/lint.sh.
#
# ESLint is pinned in package.json and package-lock.json here and installed
# with `npm ci` into tests/html/node_modules on first use (and again when
# the lock file changes), never globally.  Skips (exit 77) only when there
# is no Node.js or npm, or Node.js is older than ESLint 9 supports; a failed
# install fails the test.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
ESLINT="$HERE/node_modules/.bin/eslint"
STAMP="$HERE/node_modules/.segaudit-lock"

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }

command -v node >/dev/null || skip "no Node.js"
command -v npm >/dev/null || skip "no npm"
# ESLint 9: Node.js ^18.18.0 || ^20.9.0 || >=21.1.0.
node -e '
    const [a, b] = process.versions.node.split(".").map(Number);
    process.exit((a === 18 && b >= 18) || (a === 20 && b >= 9) ||
                 (a === 21 && b >= 1) || a > 21 ? 0 : 1);' ||
    skip "Node.js $(node --version) is older than ESLint 9 supports"

installed() {
    [ -x "$ESLINT" ] && cmp -s "$HERE/package-lock.json" "$STAMP"
}

install() {
    installed && return 0
    echo "installing ESLint (npm ci) into $HERE/node_modules"
    (cd "$HERE" && npm ci --no-audit --no-fund --ignore-scripts \
        --loglevel=error) >&2 || return 1
    cp "$HERE/package-lock.json" "$STAMP"
}

# Several build folders may run this test at once: one at a time (npm ci
# removes node_modules before it installs).
if command -v flock >/dev/null; then
    exec 9<"$HERE"
    flock 9
fi
install || fail "cannot install ESLint with npm ci in $HERE (see above)"

echo "$("$ESLINT" --version) on Node.js $(node --version)"
cd "$ROOT"
"$ESLINT" --config "$HERE/eslint.config.cjs" --max-warnings 0 \
    src/report/page.js
echo "ok - src/report/page.js: no problems"
