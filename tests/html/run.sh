#!/usr/bin/env bash
# The HTML report in a real browser: headless Chromium driven by Node.js
# (playwright-core).  Run by meson from tests/ as
#
#     html/run.sh <segaudit binary> <build dir of the tests>
#
# Skips (exit 77) when Chromium, Node.js or playwright-core cannot be had.
# Writes reports with `segaudit audit --html`.  Environment:
# SEGAUDIT_HTML_BIG=N sets the size of the large report (100000; 0 leaves
# it out).
set -euo pipefail

SEGAUDIT=$(realpath "$1")
BUILD=$(realpath "$2")
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CHROMIUM=/usr/bin/chromium
PW_VERSION=1.49.1
NODE_DIR="$BUILD/html-node"

skip() { echo "SKIP: $*"; exit 77; }

if [ ! -x "$CHROMIUM" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing chromium (apt-get install -y chromium)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 ||
        { DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null 2>&1 &&
          DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1; } || true
fi
[ -x "$CHROMIUM" ] || skip "no Chromium"
command -v node >/dev/null || skip "no Node.js"
command -v npm >/dev/null || skip "no npm"

# playwright-core, pinned, local to the build folder (never global).
PW="$NODE_DIR/node_modules/playwright-core"
if ! grep -qs "\"version\": \"$PW_VERSION\"" "$PW/package.json"; then
    mkdir -p "$NODE_DIR"
    echo "installing playwright-core@$PW_VERSION into $NODE_DIR"
    npm install --prefix "$NODE_DIR" --no-audit --no-fund --no-save \
        --loglevel=error "playwright-core@$PW_VERSION" >&2 ||
        skip "cannot install playwright-core@$PW_VERSION with npm"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/segaudit-html.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

PW_MODULE="$PW" CHROMIUM="$CHROMIUM" SEGAUDIT="$SEGAUDIT" \
    WORK="$WORK" DATA="$ROOT/tests" BIG_IMAGES="${SEGAUDIT_HTML_BIG:-100000}" \
    node "$HERE/test_report.cjs"
