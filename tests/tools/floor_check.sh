#!/usr/bin/env bash
# Checks the benchmark's floor tool (floorprobs) on small synthetic data:
# it reads every layout that segaudit reads directly, gives the same
# checksum on 1 and 3 threads, and refuses what it cannot do with a
# message and exit status 1.
#
#   floor_check.sh <path-to-segaudit> <path-to-floorprobs>
set -u
if [ $# -ne 2 ]; then
    echo "usage: $0 <path-to-segaudit> <path-to-floorprobs>" >&2
    exit 2
fi
SEG=$1 FLOOR=$2
TMP=$(mktemp -d "${TMPDIR:-/tmp}/segaudit_floor.XXXXXX") || exit 2
trap 'rm -rf "$TMP"' EXIT
pass=0 fail=0
declare -A first_sum
ok() { echo "ok - $1"; pass=$((pass + 1)); }
bad() { echo "not ok - $1: $2"; fail=$((fail + 1)); }

for spec in "f32" "f16" "f16 --chunk-rows 7" "f32 --chunk-rows 48" \
    "f16 --compress gzip --chunk-rows 8"; do
    set -- $spec
    dtype=$1
    shift
    d="$TMP/${spec// /_}"
    if ! "$SEG" synth --out "$d" --images 5 --size 48x80 --seed 3 -q \
        --dtype "$dtype" "$@"; then
        bad "$spec" "segaudit synth failed"
        continue
    fi
    out1=$("$FLOOR" "$d/probs.h5" "$d/labels" 1 2>&1) || {
        bad "$spec" "1 thread: $out1"
        continue
    }
    out3=$("$FLOOR" "$d/probs.h5" "$d/labels" 3 2>&1) || {
        bad "$spec" "3 threads: $out3"
        continue
    }
    sum1=$(sed -n 's/.*(checksum \([0-9]*\)).*/\1/p' <<<"$out1")
    sum3=$(sed -n 's/.*(checksum \([0-9]*\)).*/\1/p' <<<"$out3")
    case $out1 in
    *"and 5 label files"*) ;;
    *) bad "$spec" "not 5 label files: $out1"; continue ;;
    esac
    if [ -n "$sum1" ] && [ "$sum1" = "$sum3" ]; then
        ok "$spec: checksum $sum1 on 1 and 3 threads"
    else
        bad "$spec" "checksums '$sum1' and '$sum3'"
    fi
    # the same values stored another way read the same
    first=${first_sum[$dtype]:-}
    if [ -z "$first" ]; then
        first_sum[$dtype]=$sum1
    elif [ "$first" = "$sum1" ]; then
        ok "$spec: the checksum of contiguous $dtype"
    else
        bad "$spec" "checksum $sum1, contiguous $dtype gave $first"
    fi
done

# refusals: a missing labels folder, a missing file, a wrong thread count
d="$TMP/f32"
for case in "no-labels|$d/probs.h5|$TMP/none|2|labels folder" \
    "no-file|$TMP/none.h5|$d/labels|2|none.h5" \
    "threads|$d/probs.h5|$d/labels|0|usage"; do
    IFS='|' read -r name f l t want <<<"$case"
    msg=$("$FLOOR" "$f" "$l" "$t" 2>&1 >/dev/null)
    rc=$?
    if [ "$rc" -ne 0 ] && grep -qi -- "$want" <<<"$msg"; then
        ok "refused: $name (exit $rc)"
    else
        bad "refused: $name" "exit $rc, message '$msg'"
    fi
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
