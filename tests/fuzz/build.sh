#!/bin/sh
# Builds and runs the libFuzzer targets of segaudit (see README.md here).
#
#   tests/fuzz/build.sh [build]          sanitizer build of the library and
#                                        the targets (fuzz_png, fuzz_npy,
#                                        fuzz_h5, fuzz_args, fuzz_text,
#                                        fuzz_label_array), the
#                                        ASan replay programs and mkseeds
#   tests/fuzz/build.sh seeds            writes the seed inputs into
#                                        $FUZZ_OUT/seeds/<target>
#   tests/fuzz/build.sh run T SECONDS    fuzzes target T (png, npy, h5, args, text, label_array) for
#                                        SECONDS; working corpus
#                                        $FUZZ_OUT/corpus/T (starts from the
#                                        committed corpus and the seeds),
#                                        crashes in $FUZZ_OUT/artifacts/T,
#                                        log $FUZZ_OUT/logs/T.log
#   tests/fuzz/build.sh merge T          tests/fuzz/corpus/T := the seeds
#                                        plus the inputs of the working
#                                        corpus that add coverage (-merge=1);
#                                        crash-* files there are kept
#   tests/fuzz/build.sh replay [T...]    runs the ASan replay programs over
#                                        the committed corpus (as the meson
#                                        test does: known findings fail)
#   tests/fuzz/build.sh coverage         source coverage of the committed
#                                        corpus (llvm-cov report)
#
# Environment: FUZZ_OUT (/tmp/segaudit-fuzz), CC (clang, version 14 or
# later with libclang-rt-dev), FUZZ_FLAGS (extra libFuzzer flags for run),
# SEGAUDIT_FUZZ_TOLERATE (known findings run/merge go past; see below).
# Needs the build dependencies of segaudit (meson, ninja, libhdf5-dev,
# libpng-dev, libjson-c-dev, zlib1g-dev, libomp-dev for clang's OpenMP).
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${FUZZ_OUT:-/tmp/segaudit-fuzz}
B=$OUT/build
CC=${CC:-clang}
TARGETS="png npy h5 args text label_array"

PKGS="hdf5-serial libpng zlib" # for mkseeds
pkg-config --exists hdf5-serial 2>/dev/null || PKGS="hdf5 libpng zlib"

COMMON="-g -O1 -fno-omit-frame-pointer -std=c11 -D_POSIX_C_SOURCE=200809L \
 -D_DEFAULT_SOURCE -Wall -Wextra -Wno-unused-parameter"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined"

build() {
    mkdir -p "$OUT/bin"
    if [ ! -f "$B/build.ninja" ]; then
        # The library with ASan+UBSan and libFuzzer's coverage
        # instrumentation (fuzzer-no-link), so the fuzzer sees its edges.
        CC=$CC meson setup "$B" "$ROOT" --buildtype=debugoptimized \
            -Db_sanitize=address,undefined -Db_lundef=false \
            -Dc_args="-fsanitize=fuzzer-no-link -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
    fi
    ninja -C "$B" libsegaudit.a segaudit tests/mkfixture
    # The library's dependencies as meson found them (the list changes).
    DEPS=$(meson introspect --dependencies "$B" | python3 -c '
import json, sys, shlex
deps = [d for d in json.load(sys.stdin) if d["name"] != "cmocka"]
cflags = [a for d in deps for a in d.get("compile_args", [])]
libs = [a for d in deps for a in d.get("link_args", [])]
print(shlex.join(dict.fromkeys(cflags)) + "\n" + shlex.join(dict.fromkeys(libs)))')
    INC="-I$ROOT/include -I$ROOT/src $(echo "$DEPS" | sed -n 1p)"
    LIBS="$B/libsegaudit.a $(echo "$DEPS" | sed -n 2p) -fopenmp -lm -lpthread"
    for t in $TARGETS; do
        echo "building fuzz_$t, replay_$t"
        # shellcheck disable=SC2086
        $CC $COMMON $SAN -fsanitize=fuzzer $INC "$HERE/fuzz_$t.c" $LIBS \
            -o "$OUT/bin/fuzz_$t"
        # The replay program with the same sanitizers, without libFuzzer.
        # shellcheck disable=SC2086
        $CC $COMMON $SAN -fsanitize=fuzzer-no-link $INC "$HERE/fuzz_$t.c" \
            "$HERE/replay.c" $LIBS -o "$OUT/bin/replay_$t"
    done
    # shellcheck disable=SC2046,SC2086
    $CC $COMMON "$HERE/mkseeds.c" $(pkg-config --cflags --libs $PKGS) \
        -o "$OUT/bin/mkseeds"
    echo "built in $OUT/bin"
}

# argv seeds of fuzz_args: one file per line of this list, arguments
# separated by '|' (written NUL-separated).  '@' is the harness's sandbox.
ARGS_SEEDS='audit|--labels|@d/labels|--probs|@d/probs.h5|--out|@w/o|-q
audit|--labels|@d/labels|--probs|@d/probs.h5:/pred_probs|--ids|/image_ids|--out|@w/o|--masks|--top|all|--overlay-width|16|--class-names|@d/classes.txt|--palette|@d/palette.txt|--truth|@d/truth.csv|--rank-by|mean_iou|--no-html
audit|--labels=@g/labels|--probs=@g/probs.h5|--out=@w/o/deep/er|--ignore-index|255|--ignore-index=0|--classes|cityscapes|--downsample|4|--downsample-labels|mode|--temperature|0.5|--logits|--threads|1|--memory-limit|64K|--band-size|1K|--min-region-area|3|--scratch|@w|--images|@g/labels|--image-suffix|.png|--progress
audit|--labels|@g/labels|--probs|@g/probs.h5|--out|@w/o|--classes|pascal-voc|--top|0|--html|-q
audit|--labels|@d/labels|--label-suffix|.png|--probs|@d/probs.h5:/missing|--out|@w/o
audit|--labels|@d/labels|--probs|@d/probs.h5|--out|@w/o|--class-names|@d/classes.txt|--classes|ade20k
audit|--labels|@d|--probs|@d/probs.h5|--out|@d/labels
audit|--help
audit|--labels|@d/labels|--probs|@d/probs.h5|--out|@w/o|--temperature|0|--downsample|256
audit|--labels|@d/labels|--probs|@d/probs.h5|--out|@w/o|--memory-limit|1T|--band-size|0x10|--top|-1
audit|-qh|--label
audit|--labels|@d/labels|--probs|@d/probs.h5|--out|@w/o|--palette|@d/classes.txt
synth|--out|@w/s|--images|2|--size|16x16|--classes|3|-q
synth|--out|@w/s|--images|1|--size|16X24|--classes|19|--error-rate|1|--seed|18446744073709551615|--dtype|f16|--compress|gzip|--void|255|--threads|2|--force
synth|--out|@w/s|--images|3|--size|16x16|--classes|4|--dtype|float16|--void|3|--error-rate|0.5
synth|--out|@d|--images|1|--size|16x16|--force
synth|--help
synth|--out|@w/s|--images|0|--size|15x16|--classes|256|--error-rate|nan|--dtype|f64|--compress|lzf
--version
--help
bogus'

seeds() {
    S=$OUT/seeds
    rm -rf "$S"
    mkdir -p "$S/png" "$S/npy" "$S/h5" "$S/args" "$S/text" "$S/label_array"
    "$OUT/bin/mkseeds" png "$S/png"
    "$OUT/bin/mkseeds" npy "$S/npy"
    # Text files: the committed hand-made seeds are the seeds.
    cp "$HERE"/corpus/text/* "$S/text"/
    cp "$HERE"/corpus/label_array/* "$S/label_array"/
    "$OUT/bin/mkseeds" h5 "$S/h5"
    # Label PNGs of the golden cases (small ones) and of the sample.
    for f in "$ROOT"/tests/golden/*/labels/*_000.png \
             "$ROOT"/tests/golden/*/expected_issues/*_001.png; do
        [ -f "$f" ] && [ "$(wc -c <"$f")" -le 65536 ] &&
            cp "$f" "$S/png/golden-$(basename "$(dirname "$(dirname "$f")")")-$(basename "$f")"
    done
    # HDF5 files written by the project's own writers, each < 64 KB.
    T=$OUT/tmp-seeds
    rm -rf "$T"
    mkdir -p "$T"
    MK=$B/tests/mkfixture
    i=0
    for opts in "" "--dtype f16 --chunked --gzip --ids fixed" \
                "--dtype f64 --ids none" "--rank3" "--int-dtype" \
                "--extra-id" "--no-probs-dataset" "--nan-at 0" \
                "--labels palette --chunked" "--labels gray16"; do
        i=$((i + 1))
        # shellcheck disable=SC2086
        "$MK" --out "$T/m$i" --images 2 --size 8x8 $opts >/dev/null
        cp "$T/m$i/probs.h5" "$S/h5/mkfixture-$i.h5"
        cp "$T/m$i/labels/img_000.png" "$S/png/mkfixture-$i.png" 2>/dev/null || true
    done
    "$B/segaudit" synth --out "$T/s1" --images 2 --size 16x16 --classes 3 -q
    "$B/segaudit" synth --out "$T/s2" --images 2 --size 16x16 --classes 4 \
        --dtype f16 --compress gzip -q
    cp "$T/s1/probs.h5" "$S/h5/synth-f32.h5"
    cp "$T/s2/probs.h5" "$S/h5/synth-f16-gzip.h5"
    cp "$T/s1/labels/synth_000000.png" "$S/png/synth.png"
    for f in "$ROOT"/tests/golden/*/probs.h5; do
        [ "$(wc -c <"$f")" -le 65536 ] &&
            cp "$f" "$S/h5/golden-$(basename "$(dirname "$f")").h5"
    done
    rm -rf "$T"
    # argv seeds
    n=0
    echo "$ARGS_SEEDS" | while IFS= read -r line; do
        n=$((n + 1))
        printf '%s' "$line" | tr '|' '\000' >"$S/args/seed-$(printf %02d $n)"
    done
    : >"$S/args/seed-empty"
    for t in $TARGETS; do
        echo "seeds/$t: $(find "$S/$t" -type f | wc -l) files, $(du -sh "$S/$t" | cut -f1)"
    done
}

# libFuzzer options per target.  fuzz_h5 runs in fork mode and goes on
# after a crash, timeout or out-of-memory (each is still saved in
# artifacts/h5): HDF5 1.10 itself allocates up to 4 GB for one corrupt
# variable-length string and leaks on some corrupt files (README.md,
# "Upstream"), which would otherwise end every run within seconds.
target_flags() {
    case $1 in
    args) echo "-detect_leaks=0 -close_fd_mask=3 -dict=$HERE/args.dict -max_len=4096" ;;
    png) echo "-dict=$HERE/png.dict -max_len=65536" ;;
    npy) echo "-max_len=4096" ;;
    text) echo "-max_len=8192" ;;
    label_array) echo "-max_len=4096" ;;
    h5) echo "-max_len=65536" ;;
    esac
}

fork_flags() {
    case $1 in
    h5) echo "-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1" ;;
    esac
}

# Known, reported findings the fuzzer should not stop on (README.md,
# "Findings"); run and merge set it, the replay test does not.  Set it to
# an empty string to stop on them again.
TOLERATE="${SEGAUDIT_FUZZ_TOLERATE-fd0,chunk,h5exit}"

# A failed huge allocation returns NULL as with glibc (the code must cope);
# allocations that succeed above -rss_limit_mb are still reported as OOM.
san_env() {
    export SEGAUDIT_FUZZ_TOLERATE="$TOLERATE"
    # The targets' temporary folders: a crashed or killed run leaves its
    # folder behind, here rather than in /tmp.
    mkdir -p "$OUT/tmp"
    export TMPDIR="$OUT/tmp"
    export ASAN_OPTIONS="allocator_may_return_null=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
    export LSAN_OPTIONS="suppressions=$HERE/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
}

run() {
    t=$1
    secs=$2
    shift 2
    C=$OUT/corpus/$t
    A=$OUT/artifacts/$t
    mkdir -p "$C" "$A" "$OUT/logs"
    [ -d "$OUT/seeds/$t" ] || seeds
    cp -n "$OUT/seeds/$t"/* "$C"/ 2>/dev/null || true
    for f in "$HERE/corpus/$t"/*; do
        case $(basename "$f") in crash-*) ;; *) [ -f "$f" ] && cp -n "$f" "$C"/ ;; esac
    done
    echo "fuzzing $t for $secs s; log $OUT/logs/$t.log"
    san_env
    # shellcheck disable=SC2046,SC2086
    "$OUT/bin/fuzz_$t" "$C" -max_total_time="$secs" -rss_limit_mb=2048 \
        -timeout=10 -print_final_stats=1 -artifact_prefix="$A/" \
        $(target_flags "$t") $(fork_flags "$t") ${FUZZ_FLAGS:-} "$@" \
        >"$OUT/logs/$t.log" 2>&1 || true
    tail -n 25 "$OUT/logs/$t.log"
}

merge() {
    t=$1
    D=$HERE/corpus/$t
    M=$OUT/merged/$t
    rm -rf "$M"
    mkdir -p "$M" "$D"
    # The named hand-made seeds stay (they say what they test); the fuzzed
    # inputs are added only where they reach something the seeds do not.
    [ -d "$OUT/seeds/$t" ] || seeds
    find "$OUT/seeds/$t" -type f ! -name 'mkfixture-*' -exec cp {} "$M"/ \;
    san_env
    # -use_counters=0: the smallest set that keeps every covered edge
    # (hit-count buckets would keep several times more files).
    # shellcheck disable=SC2046
    "$OUT/bin/fuzz_$t" -merge=1 -use_counters=0 -rss_limit_mb=2048 -timeout=10 \
        $(target_flags "$t") "$M" "$OUT/corpus/$t" \
        >"$OUT/logs/$t-merge.log" 2>&1
    tail -n 3 "$OUT/logs/$t-merge.log"
    find "$D" -maxdepth 1 -type f ! -name 'crash-*' -delete
    cp "$M"/* "$D"/
    echo "corpus/$t: $(find "$D" -type f | wc -l) files, $(du -sh "$D" | cut -f1)"
}

replay() {
    unset SEGAUDIT_FUZZ_TOLERATE
    export ASAN_OPTIONS="allocator_may_return_null=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
    export LSAN_OPTIONS="suppressions=$HERE/lsan.supp:print_suppressions=0"
    rc=0
    # shellcheck disable=SC2048,SC2086
    for t in ${*:-$TARGETS}; do
        if "$OUT/bin/replay_$t" "$HERE/corpus/$t" >"$OUT/logs/replay-$t.log" 2>&1
        then echo "replay_$t: ok ($(tail -n 1 "$OUT/logs/replay-$t.log"))"
        else rc=1; echo "replay_$t: FAILED"; tail -n 5 "$OUT/logs/replay-$t.log"
        fi
    done
    return $rc
}

# Source coverage of the committed corpus (clang source-based coverage,
# no sanitizers), per file of the code each target is aimed at.
coverage() {
    CB=$OUT/cov-build
    if [ ! -f "$CB/build.ninja" ]; then
        CC=$CC meson setup "$CB" "$ROOT" --buildtype=debug \
            -Dc_args="-fprofile-instr-generate -fcoverage-mapping" \
            -Dc_link_args="-fprofile-instr-generate"
    fi
    ninja -C "$CB" libsegaudit.a
    DEPS=$(meson introspect --dependencies "$CB" | python3 -c '
import json, sys, shlex
deps = [d for d in json.load(sys.stdin) if d["name"] != "cmocka"]
cflags = [a for d in deps for a in d.get("compile_args", [])]
libs = [a for d in deps for a in d.get("link_args", [])]
print(shlex.join(dict.fromkeys(cflags)) + "\n" + shlex.join(dict.fromkeys(libs)))')
    INC="-I$ROOT/include -I$ROOT/src $(echo "$DEPS" | sed -n 1p)"
    LIBS="$CB/libsegaudit.a $(echo "$DEPS" | sed -n 2p) -fopenmp -lm -lpthread"
    mkdir -p "$OUT/cov"
    export SEGAUDIT_FUZZ_TOLERATE="$TOLERATE"
    for t in $TARGETS; do
        # shellcheck disable=SC2086
        $CC $COMMON -O0 -fprofile-instr-generate -fcoverage-mapping $INC \
            "$HERE/fuzz_$t.c" "$HERE/replay.c" $LIBS -o "$OUT/bin/cov_$t"
        rm -f "$OUT/cov/$t.profraw"
        # crash-* inputs are left out: a hang or abort loses the profile.
        # shellcheck disable=SC2046
        LLVM_PROFILE_FILE="$OUT/cov/$t.profraw" "$OUT/bin/cov_$t" \
            $(find "$HERE/corpus/$t" -type f ! -name 'crash-*') \
            >"$OUT/logs/cov-$t.log" 2>&1 || true
        ${LLVM_PROFDATA:-llvm-profdata} merge -o "$OUT/cov/$t.profdata" \
            "$OUT/cov/$t.profraw"
        case $t in
        png) files="$ROOT/src/io/png_io.c $ROOT/src/io/png_util.c" ;;
        npy) files="$ROOT/src/io/npy.c" ;;
        text) files="$ROOT/src/io/text_in.c" ;;
        label_array) files="$ROOT/src/io/label_array.c" ;;
        h5) files="$ROOT/src/io/h5_probs.c $ROOT/src/io/h5_check.c $ROOT/src/io/h5_ids.c $ROOT/src/io/h5_util.c" ;;
        args) files=$(printf '%s ' "$ROOT"/src/cli/*.c) ;;
        esac
        echo "== $t"
        # shellcheck disable=SC2086
        ${LLVM_COV:-llvm-cov} report "$OUT/bin/cov_$t" \
            -instr-profile="$OUT/cov/$t.profdata" $files |
            grep -E '^(Filename|TOTAL)|src/io/|src/cli/'
    done
    echo "(png_io.c also holds the mask writer, which fuzz_png does not call)"
}

cmd=${1:-build}
[ $# -gt 0 ] && shift
case $cmd in
build) build ;;
seeds) seeds ;;
run) run "$@" ;;
merge) merge "$@" ;;
replay) replay "$@" ;;
coverage) coverage ;;
*) sed -n '2,28p' "$0"; exit 2 ;;
esac
