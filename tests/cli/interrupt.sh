#!/usr/bin/env bash
# SIGINT and SIGTERM during an audit: the run ends quickly with 130 / 143,
# the previous report stays as it was, and no staging folder or scratch
# file is left.  Usage: interrupt.sh <segaudit>
set -u
SEG=$1
TMP=$(mktemp -d "${TMPDIR:-/tmp}/segaudit_interrupt.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
PASS=0 FAIL=0
ok() { echo "ok - $1"; PASS=$((PASS + 1)); }
not_ok() { echo "not ok - $1: $2"; FAIL=$((FAIL + 1)); }

"$SEG" synth --out "$TMP/d" --images 160 --size 128x256 --dtype f16 --seed 5 -q ||
    { echo "not ok - synth failed"; echo "0 passed, 1 failed"; exit 1; }
ARGS=(audit --labels "$TMP/d/labels" --probs "$TMP/d/probs.h5" --out "$TMP/out"
      --threads 1 --memory-limit 64K --scratch "$TMP/scratch" --masks -q)
mkdir -p "$TMP/scratch"
"$SEG" "${ARGS[@]}" || { echo "not ok - first run failed"; echo "0 passed, 1 failed"; exit 1; }
before=$(cat "$TMP/out/images.csv" "$TMP/out/report.json" | cksum)

for sig in INT TERM; do
    want=$([ $sig = INT ] && echo 130 || echo 143)
    interrupted=0
    # the run must be caught in the act: retry with an earlier signal if it
    # finished first (a fast machine); its report is then the one that
    # must stay
    for delay in 0.3 0.15 0.05; do
        start=$(date +%s.%N)
        "$SEG" "${ARGS[@]}" 2>"$TMP/err" &
        pid=$!
        sleep "$delay"
        kill -s "$sig" "$pid" 2>/dev/null
        sent=$(date +%s.%N)
        wait "$pid"
        rc=$?
        end=$(date +%s.%N)
        if [ "$rc" -ne 0 ]; then
            interrupted=1
            break
        fi
        before=$(cat "$TMP/out/images.csv" "$TMP/out/report.json" | cksum)
    done
    if [ "$interrupted" = 0 ]; then
        not_ok "sig$sig" "the run always finished before the signal"
        continue
    fi
    took=$(awk -v a="$sent" -v b="$end" 'BEGIN {printf "%.2f", b - a}')
    after=$(cat "$TMP/out/images.csv" "$TMP/out/report.json" | cksum)
    left=$(find "$TMP/out" "$TMP/scratch" -mindepth 1 -maxdepth 1 -name '.*' -o \
        -mindepth 1 -maxdepth 1 -path "$TMP/scratch/*" | tr '\n' ' ')
    why=""
    [ "$rc" -eq "$want" ] || why="$why exit $rc, expected $want;"
    grep -q "interrupted" "$TMP/err" || why="$why no 'interrupted' message;"
    [ "$before" = "$after" ] || why="$why the previous report changed;"
    [ -z "$left" ] || why="$why left behind: $left;"
    awk -v t="$took" 'BEGIN {exit !(t < 2.0)}' || why="$why took ${took}s to stop;"
    if [ -z "$why" ]; then
        ok "sig$sig (stopped in ${took}s)"
    else
        not_ok "sig$sig" "$why"
    fi
done
echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
