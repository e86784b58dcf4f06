#!/usr/bin/env bash
# A full disk while writing the report, and a full scratch folder: the run
# fails with a message naming the file, and the previous report stays
# intact.  Needs to mount small tmpfs folders (root); skipped otherwise.
# Usage: disk_full.sh <segaudit> <mkfixture>
set -u
SEG=$1 MK=$2
TMP=$(mktemp -d "${TMPDIR:-/tmp}/segaudit_diskfull.XXXXXX")
MNT="$TMP/small" SCR="$TMP/scratch" RO="$TMP/readonly"
mkdir -p "$MNT" "$SCR" "$RO"
cleanup() {
    umount "$MNT" 2>/dev/null
    umount "$SCR" 2>/dev/null
    umount "$RO" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
if ! mount -t tmpfs -o size=512k tmpfs "$MNT" 2>/dev/null ||
    ! mount -t tmpfs -o size=64k tmpfs "$SCR" 2>/dev/null ||
    ! mount -t tmpfs -o size=64k,ro tmpfs "$RO" 2>/dev/null; then
    echo "SKIP: cannot mount a small tmpfs here (needs root)"
    exit 77
fi
PASS=0 FAIL=0
ok() { echo "ok - $1"; PASS=$((PASS + 1)); }
not_ok() { echo "not ok - $1: $2"; FAIL=$((FAIL + 1)); }

"$MK" --out "$TMP/d" --images 3 --size 16x24 --classes 5 >/dev/null
A=(audit --labels "$TMP/d/labels" --probs "$TMP/d/probs.h5" -q)
"$SEG" "${A[@]}" --out "$MNT/out" --no-html --top 0 ||
    { echo "not ok - first report"; echo "0 passed, 1 failed"; exit 1; }
before=$(cat "$MNT/out"/*.csv "$MNT/out/report.json" | cksum)
# leave about 4 KB free
free_kb=$(df -k --output=avail "$MNT" | tail -n 1)
dd if=/dev/zero of="$MNT/filler" bs=1k count=$((free_kb - 4)) 2>/dev/null
"$SEG" "${A[@]}" --out "$MNT/out" --masks 2>"$TMP/err"
rc=$?
after=$(cat "$MNT/out"/*.csv "$MNT/out/report.json" | cksum)
left=$(find "$MNT/out" -mindepth 1 -maxdepth 1 -name '.*' | tr '\n' ' ')
why=""
[ "$rc" -eq 1 ] || why="$why exit $rc, expected 1;"
grep -q "No space left" "$TMP/err" || why="$why no 'No space left' in: $(head -c 300 "$TMP/err");"
grep -q "$MNT/out" "$TMP/err" || why="$why the message does not name the output;"
[ "$before" = "$after" ] || why="$why the previous report changed;"
[ -z "$left" ] || why="$why left behind: $left;"
if [ -z "$why" ]; then ok disk_full_keeps_previous_report; else not_ok disk_full_keeps_previous_report "$why"; fi

"$SEG" synth --out "$TMP/big" --images 20 --size 64x128 --seed 2 -q
"$SEG" audit --labels "$TMP/big/labels" --probs "$TMP/big/probs.h5" \
    --out "$TMP/out2" --memory-limit 64K --scratch "$SCR" -q 2>"$TMP/err2"
rc=$?
why=""
[ "$rc" -eq 1 ] || why="$why exit $rc, expected 1;"
grep -q "scratch file in $SCR" "$TMP/err2" || why="$why message: $(head -c 300 "$TMP/err2");"
grep -q "No space left" "$TMP/err2" || why="$why no 'No space left';"
[ -z "$(ls -A "$SCR")" ] || why="$why scratch not empty: $(ls -A "$SCR");"
[ ! -e "$TMP/out2/images.csv" ] || why="$why a report was written;"
if [ -z "$why" ]; then ok scratch_full; else not_ok scratch_full "$why"; fi

# A read-only output folder (root ignores permissions: a read-only mount)
"$SEG" "${A[@]}" --out "$RO" 2>"$TMP/err3"
rc=$?
if [ "$rc" -eq 1 ] && grep -q "$RO" "$TMP/err3" && grep -qi "read-only" "$TMP/err3"; then
    ok read_only_output
else
    not_ok read_only_output "exit $rc: $(head -c 300 "$TMP/err3")"
fi

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
