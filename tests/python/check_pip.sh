#!/usr/bin/env bash
# `pip install .` as the README says, offline, into a fresh virtual
# environment that sees Debian's packages (NumPy, meson-python, pytest,
# pandas); then the reference API's and audit()'s tests against the
# installed package, from outside the source tree.
#
#   check_pip.sh SOURCE_DIR PYTHON
set -euo pipefail
src=$(cd "$1" && pwd)
python=$2
tmp=$(mktemp -d /tmp/segaudit-pip.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

"$python" -m venv --system-site-packages "$tmp/venv"
if ! "$tmp/venv/bin/pip" install --no-build-isolation --no-index -q "$src" \
        >"$tmp/pip.log" 2>&1; then
    echo "FAIL: pip install failed:"; cat "$tmp/pip.log"; exit 1
fi
where=$(cd "$tmp" && "$tmp/venv/bin/python" -c 'import segaudit; print(segaudit.__file__)')
case $where in
    "$tmp/venv/"*) echo "ok: installed as $where" ;;
    *) echo "FAIL: segaudit imported from $where, not the virtual environment"; exit 1 ;;
esac
# the wheel holds the package alone: no program, library, headers or
# pkg-config file in the environment
others=$("$tmp/venv/bin/pip" show -f segaudit |
    sed -n '/^Files:/,$p' | tail -n +2 | sed 's/^ *//' |
    grep -v -e '^segaudit/' -e '^segaudit-[^/]*\.dist-info/' || true)
if [ -n "$others" ]; then
    echo "FAIL: pip installed files outside the package:"; echo "$others"; exit 1
fi
echo "ok: the package alone installed ($("$tmp/venv/bin/pip" show -f segaudit | grep -c '^  segaudit/') files)"
cd "$tmp"
SEGAUDIT_GOLDEN=$src/tests/golden "$tmp/venv/bin/python" -m pytest -q \
    -p no:cacheprovider "$src/tests/python/test_reference_api.py" \
    "$src/tests/python/test_audit.py"
