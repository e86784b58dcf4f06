#!/usr/bin/env bash
# CLI bad-input tests for `segaudit audit`.
#
#   bad_input.sh <path-to-segaudit> <path-to-mkfixture>
#
# Builds small datasets with mkfixture (one defect each) in a temporary
# directory and checks, for each defect, that segaudit
#   - exits 1 (input or I/O error) or 2 (usage error),
#   - prints "segaudit: <message>" on stderr naming the offending file (or
#     option) and the problem (loose, case-insensitive keywords), as a single
#     line for input errors (runs use -q), with no HDF5 error stack,
#   - leaves no report file (and no temporary file) in --out.
# A valid dataset is audited first so that the checks are not vacuous.
# Prints "ok - NAME" / "not ok - NAME: WHY" per check, then "N passed, N failed".
set -u

if [ $# -ne 2 ]; then
    echo "usage: $0 <path-to-segaudit> <path-to-mkfixture>" >&2
    exit 2
fi
SEG=$1
MK=$2
for exe in "$SEG" "$MK"; do
    if [ ! -x "$exe" ]; then
        echo "bad_input.sh: not an executable: $exe" >&2
        exit 2
    fi
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/segaudit_bad_input.XXXXXX") || exit 2
trap 'rm -rf "$TMP"' EXIT

TIMEOUT=()
if command -v timeout >/dev/null 2>&1; then TIMEOUT=(timeout 120); fi

PASS=0
FAIL=0
ok() { echo "ok - $1"; PASS=$((PASS + 1)); }
not_ok() { echo "not ok - $1: $2"; FAIL=$((FAIL + 1)); }

REPORT_FILES="images.csv classes.csv pairs.csv report.json"
BASE=(--images 3 --size 16x24 --classes 5 --seed 7)

# mkfix NAME [MKFIXTURE ARGS...]: writes dataset $TMP/NAME (BASE + args; a
# later --size overrides BASE's).  Returns non-zero (and reports) on failure.
mkfix() {
    local name=$1
    shift
    if ! "$MK" --out "$TMP/$name" "${BASE[@]}" "$@" >"$TMP/$name.mkfixture.log" 2>&1; then
        not_ok "$name" "mkfixture failed: $(head -n 3 "$TMP/$name.mkfixture.log" | tr '\n' ' ')"
        return 1
    fi
}

# run NAME ARGS...: runs segaudit ARGS; sets RC, ERRF (stderr file).
run() {
    local name=$1
    shift
    ERRF="$TMP/$name.stderr"
    ${TIMEOUT[@]+"${TIMEOUT[@]}"} "$SEG" "$@" >"$TMP/$name.stdout" 2>"$ERRF" </dev/null
    RC=$?
}

# first_lines FILE: the first 3 lines of FILE on one line, for messages.
first_lines() { head -n 3 "$1" | tr '\n' '|' | cut -c 1-300; }

# out_problems DIR MUST_EXIST: prints what is wrong with a failed run's --out
# (report or temporary files left; for MUST_EXIST=1, the dir removed).
out_problems() {
    local dir=$1 must_exist=$2
    if [ ! -e "$dir" ]; then
        [ "$must_exist" = 1 ] && printf '%s' "pre-existing --out dir was removed"
        return 0
    fi
    local left
    left=$(cd "$dir" && find . -mindepth 1 | sed 's|^\./||' | sort | tr '\n' ' ' | sed 's/ $//')
    [ -n "$left" ] && printf '%s' "--out not empty after failure: $left"
    return 0
}

# expect_fail NAME WANT_RC OUT MENTIONS KEYWORDS ARGS...
#   MENTIONS: ';'-separated EREs that must each match stderr (file names,
#   image, option); KEYWORDS: one ERE for the problem.  Case-insensitive.
expect_fail() {
    local name=$1 want=$2 out=$3 mentions=$4 keywords=$5
    shift 5
    local must_exist=0
    [ -d "$out" ] && must_exist=1
    run "$name" "$@"
    local why=() m p
    if [ "$RC" -ne "$want" ]; then
        if [ "$RC" -eq 124 ] && [ ${#TIMEOUT[@]} -gt 0 ]; then why+=("timed out")
        else why+=("exit status $RC, expected $want"); fi
    fi
    if ! grep -q '^segaudit: ' "$ERRF"; then
        why+=("no 'segaudit: ' line on stderr")
    fi
    local list=()
    IFS=';' read -r -a list <<<"$mentions"
    for m in "${list[@]}"; do
        grep -qiE -- "$m" "$ERRF" || why+=("stderr does not mention /$m/")
    done
    grep -qiE -- "$keywords" "$ERRF" || why+=("stderr lacks a keyword /$keywords/")
    if grep -qE 'HDF5-DIAG|^ *#[0-9]{3}:' "$ERRF"; then
        why+=("HDF5 error stack printed")
    fi
    local nl
    nl=$(grep -c '' "$ERRF")
    if [ "$want" -eq 1 ] && [ "$nl" -ne 1 ]; then
        why+=("stderr has $nl lines, expected exactly one")
    fi
    p=$(out_problems "$out" "$must_exist")
    [ -n "$p" ] && why+=("$p")
    if [ ${#why[@]} -eq 0 ]; then
        ok "$name"
    else
        local msg
        msg=$(printf '%s; ' "${why[@]}")
        not_ok "$name" "${msg%; } [stderr: $(first_lines "$ERRF")]"
    fi
}

# expect_ok NAME OUT MASKS(0/1) ARGS...: exit 0 and the report files exist.
expect_ok() {
    local name=$1 out=$2 masks=$3
    shift 3
    run "$name" "$@"
    local why=() f
    [ "$RC" -eq 0 ] || why+=("exit status $RC, expected 0")
    for f in $REPORT_FILES; do
        [ -s "$out/$f" ] || why+=("missing or empty $f")
    done
    if [ -s "$out/report.json" ] &&
        [ "$(head -c 256 "$out/report.json" | tr -d ' \t\r\n' | head -c 1)" != "{" ]; then
        why+=("report.json does not start with '{'")
    fi
    if [ "$masks" = 1 ]; then
        for f in img_000 img_001 img_002; do
            [ -s "$out/masks/$f.png" ] || why+=("missing masks/$f.png")
        done
    fi
    if [ -d "$out" ]; then
        local junk
        junk=$(cd "$out" && find . -mindepth 1 \( -name '.*' -o -iname '*tmp*' \) | tr '\n' ' ' | sed 's/ $//')
        [ -n "$junk" ] && why+=("temporary files left: $junk")
    fi
    if [ ${#why[@]} -eq 0 ]; then
        ok "$name"
    else
        local msg
        msg=$(printf '%s; ' "${why[@]}")
        not_ok "$name" "${msg%; } [stderr: $(first_lines "$ERRF")]"
    fi
}

# audit_args NAME: the standard arguments for dataset $TMP/NAME.
audit_args() {
    ARGS=(audit --labels "$TMP/$1/labels" --probs "$TMP/$1/probs.h5" --out "$TMP/$1/out" -q)
}

# ---- the valid dataset: the tool must accept it -------------------------
if mkfix valid; then
    audit_args valid
    expect_ok valid_dataset "$TMP/valid/out" 0 "${ARGS[@]}"
    expect_ok valid_dataset_masks "$TMP/valid/out_masks" 1 \
        audit --labels "$TMP/valid/labels" --probs "$TMP/valid/probs.h5" \
        --out "$TMP/valid/out_masks" --masks -q
    expect_ok valid_downsample_4 "$TMP/valid/out_ds" 0 \
        audit --labels "$TMP/valid/labels" --probs "$TMP/valid/probs.h5" \
        --out "$TMP/valid/out_ds" --downsample 4 -q
fi

# ---- label file problems (exit 1) ----------------------------------------
OPEN_WORDS='missing|not found|no such|does not exist|doesn.t exist|cannot|can.t|could not|unable|failed|open'
if mkfix missing_label --missing-label 1; then
    audit_args missing_label
    expect_fail missing_label 1 "$TMP/missing_label/out" 'img_001' "$OPEN_WORDS" "${ARGS[@]}"
fi
if mkfix label_not_png --text-label 1; then
    audit_args label_not_png
    expect_fail label_not_png 1 "$TMP/label_not_png/out" 'img_001' \
        'png|signature|not a|format|invalid|corrupt' "${ARGS[@]}"
fi
if mkfix label_truncated_png --truncate-label 1; then
    audit_args label_truncated_png
    expect_fail label_truncated_png 1 "$TMP/label_truncated_png/out" 'img_001' \
        'png|truncat|corrupt|premature|unexpected|end of|incomplete|short|read|crc|decompress|eof' \
        "${ARGS[@]}"
fi
if mkfix label_wrong_size --wrong-size-label 1; then
    audit_args label_wrong_size
    expect_fail label_wrong_size 1 "$TMP/label_wrong_size/out" 'img_001' \
        'size|dimension|shape|mismatch|height|width|[0-9]+ ?x ?[0-9]+' "${ARGS[@]}"
fi
if mkfix label_rgb --rgb-label 1; then
    audit_args label_rgb
    expect_fail label_rgb 1 "$TMP/label_rgb/out" 'img_001' \
        'rgb|colou?r|gr[ae]y|channel|palette|type|format|unsupported' "${ARGS[@]}"
fi
if mkfix label_value_7_k5 --label-value 7 --label-at 1; then
    audit_args label_value_7_k5
    expect_fail label_value_7_k5 1 "$TMP/label_value_7_k5/out" 'img_001;7' \
        'range|invalid|unexpected|class|value|>=|exceed' "${ARGS[@]}"
    # the message lists the values found and suggests the remedies in
    # order: a label map, then K, then --ignore-index
    if grep -q 'label values >= 5 in row 3: 7\.' "$ERRF" &&
        tr '\n' ' ' <"$ERRF" | grep -qE -- '--label-map.*check K.*--ignore-index'; then
        ok label_value_7_k5_remedies
    else
        not_ok label_value_7_k5_remedies "$(first_lines "$ERRF")"
    fi
    expect_ok label_value_7_ignored "$TMP/label_value_7_k5/out_ignored" 0 \
        audit --labels "$TMP/label_value_7_k5/labels" --probs "$TMP/label_value_7_k5/probs.h5" \
        --out "$TMP/label_value_7_k5/out_ignored" --ignore-index 7 -q
fi

# ---- probability tensor problems (exit 1) --------------------------------
H5='probs\.h5'
if mkfix probs_dataset_missing --no-probs-dataset; then
    audit_args probs_dataset_missing
    expect_fail probs_dataset_missing 1 "$TMP/probs_dataset_missing/out" "$H5" \
        'pred_probs|dataset|not found|missing|no such|does not exist|doesn.t exist' "${ARGS[@]}"
    expect_ok probs_dataset_named "$TMP/probs_dataset_missing/out_named" 0 \
        audit --labels "$TMP/probs_dataset_missing/labels" \
        --probs "$TMP/probs_dataset_missing/probs.h5:/other" \
        --out "$TMP/probs_dataset_missing/out_named" -q
fi
if mkfix probs_rank3 --rank3; then
    audit_args probs_rank3
    expect_fail probs_rank3 1 "$TMP/probs_rank3/out" "$H5" \
        'rank|dimension|dims|4-?d|shape|axes' "${ARGS[@]}"
fi
if mkfix probs_int_dtype --int-dtype; then
    audit_args probs_int_dtype
    expect_fail probs_int_dtype 1 "$TMP/probs_int_dtype/out" "$H5" \
        'type|float|integer|int32' "${ARGS[@]}"
fi
if mkfix ids_count_mismatch --extra-id; then
    audit_args ids_count_mismatch
    expect_fail ids_count_mismatch 1 "$TMP/ids_count_mismatch/out" "$H5|image_ids" \
        'image_ids|ids|mismatch|count|number|length|match|differ' "${ARGS[@]}"
fi
IMG1='img_001|image[^0-9]*1([^0-9]|$)|index[^0-9]*1([^0-9]|$)'
if mkfix probs_nan --nan-at 1; then
    audit_args probs_nan
    expect_fail probs_nan 1 "$TMP/probs_nan/out" "$H5;$IMG1" 'nan|finite' "${ARGS[@]}"
fi
if mkfix probs_negative --negative-at 1; then
    audit_args probs_negative
    expect_fail probs_negative 1 "$TMP/probs_negative/out" "$H5;$IMG1" \
        'negative|< ?0|below (0|zero)|less than (0|zero)|range' "${ARGS[@]}"
    if grep -q -- '--logits' "$ERRF"; then ok probs_negative_suggests_logits
    else not_ok probs_negative_suggests_logits "$(first_lines "$ERRF")"; fi
    # the same with a pre-existing (empty) --out: it must stay, and stay empty
    mkdir -p "$TMP/probs_negative/out_existing"
    expect_fail probs_negative_existing_out 1 "$TMP/probs_negative/out_existing" "$H5;$IMG1" \
        'negative|< ?0|below (0|zero)|less than (0|zero)|range' \
        audit --labels "$TMP/probs_negative/labels" --probs "$TMP/probs_negative/probs.h5" \
        --out "$TMP/probs_negative/out_existing" -q
fi
if mkfix not_divisible --size 10x12; then
    expect_fail downsample_not_divisible 1 "$TMP/not_divisible/out" 'downsample|divisib' \
        'divisib|multiple' \
        audit --labels "$TMP/not_divisible/labels" --probs "$TMP/not_divisible/probs.h5" \
        --out "$TMP/not_divisible/out" --downsample 4 -q
fi
if [ -d "$TMP/valid" ]; then
    expect_fail probs_file_missing 1 "$TMP/valid/out_nofile" 'nonexistent\.h5' "$OPEN_WORDS" \
        audit --labels "$TMP/valid/labels" --probs "$TMP/valid/nonexistent.h5" \
        --out "$TMP/valid/out_nofile" -q
    expect_fail labels_dir_missing 1 "$TMP/valid/out_nolabels" 'nolabels' "$OPEN_WORDS" \
        audit --labels "$TMP/valid/nolabels" --probs "$TMP/valid/probs.h5" \
        --out "$TMP/valid/out_nolabels" -q

    # ---- usage errors (exit 2) --------------------------------------------
    V=(--labels "$TMP/valid/labels" --probs "$TMP/valid/probs.h5")
    TEMP_WORDS='positive|> ?0|greater|invalid|must|bad|expected|range'
    expect_fail temperature_0 2 "$TMP/valid/out_t0" 'temperature' "$TEMP_WORDS" \
        audit "${V[@]}" --out "$TMP/valid/out_t0" --temperature 0 -q
    expect_fail temperature_negative 2 "$TMP/valid/out_tneg" 'temperature' "$TEMP_WORDS" \
        audit "${V[@]}" --out "$TMP/valid/out_tneg" --temperature -1 -q
    expect_fail unknown_option 2 "$TMP/valid/out_unknown" 'bogus-option' \
        'unknown|unrecogni[sz]ed|invalid|illegal|option' \
        audit "${V[@]}" --out "$TMP/valid/out_unknown" --bogus-option -q
    expect_fail missing_required_probs 2 "$TMP/valid/out_noprobs" 'probs' \
        'required|missing|must|expected|need' \
        audit --labels "$TMP/valid/labels" --out "$TMP/valid/out_noprobs" -q
fi

# ---- the same error whatever the thread count and band size -----------------
# Image 3 has a bad label value and image 4 a truncated PNG: the first problem
# in image order is the one reported, however far the reading ran ahead.
if mkfix two_faults --images 6 --label-value 9 --label-at 3 --truncate-label 4; then
    first=""
    same=1
    for t in 1 2 4; do
        for b in 1 1K 1M; do
            run "two_faults_t${t}_b${b}" audit --labels "$TMP/two_faults/labels" \
                --probs "$TMP/two_faults/probs.h5" --out "$TMP/two_faults/out" \
                --threads "$t" --band-size "$b" -q
            [ -z "$first" ] && first=$(cat "$ERRF")
            [ "$(cat "$ERRF")" = "$first" ] || same=0
        done
    done
    if [ "$same" = 1 ] && grep -q 'img_003.*label 9' <<<"$first"; then
        ok first_error_in_image_order
    else
        not_ok first_error_in_image_order "messages differ or name the wrong image: $first"
    fi
fi

# ---- overlays: the first image that fails, whatever the thread count --------
# The label PNGs serve as photos, but those of images 1 and 3 are not PNG
# files; the overlays are drawn several at a time.
if mkfix photos --images 6; then
    cp -r "$TMP/photos/labels" "$TMP/photos/img"
    echo junk >"$TMP/photos/img/img_001.png"
    echo junk >"$TMP/photos/img/img_003.png"
    later=0
    for t in 1 2 3 4; do
        expect_fail "photo_first_t$t" 1 "$TMP/photos/out" 'img_001\.png' 'not a PNG' \
            audit --labels "$TMP/photos/labels" --probs "$TMP/photos/probs.h5" \
            --out "$TMP/photos/out" --images "$TMP/photos/img" --threads "$t" -q
        grep -q 'img_003' "$ERRF" && later=1
    done
    if [ "$later" = 0 ]; then
        ok photo_later_image_not_reported
    else
        not_ok photo_later_image_not_reported "a run named img_003"
    fi
    # with image 1's photo mended, image 3's is the one reported
    cp "$TMP/photos/labels/img_001.png" "$TMP/photos/img/img_001.png"
    expect_fail photo_second 1 "$TMP/photos/out" 'img_003\.png' 'not a PNG' \
        audit --labels "$TMP/photos/labels" --probs "$TMP/photos/probs.h5" \
        --out "$TMP/photos/out" --images "$TMP/photos/img" --threads 2 -q
fi

# ---- re-running into a report folder ----------------------------------------
# A run without --masks replaces a report that had masks: no stale masks stay.
if [ -d "$TMP/valid" ]; then
    R="$TMP/valid/rerun"
    run rerun_masks audit --labels "$TMP/valid/labels" --probs "$TMP/valid/probs.h5" \
        --out "$R" --masks -q
    run rerun_plain audit --labels "$TMP/valid/labels" --probs "$TMP/valid/probs.h5" \
        --out "$R" -q
    if [ "$RC" -eq 0 ] && [ -s "$R/images.csv" ] && [ ! -e "$R/masks" ]; then
        ok rerun_drops_stale_masks
    else
        not_ok rerun_drops_stale_masks "exit $RC; $(ls -a "$R" | tr '\n' ' ')"
    fi
fi

# ---- --truth -----------------------------------------------------------------
if [ -d "$TMP/valid" ]; then
    T="$TMP/valid/truth_out"
    printf 'image,mislabeled\nimg_000,0\nimg_001,1\nimg_002,0\n' >"$TMP/valid/truth.csv"
    run truth_ok audit --labels "$TMP/valid/labels" --probs "$TMP/valid/probs.h5" \
        --out "$T" --truth "$TMP/valid/truth.csv" -q
    if [ "$RC" -eq 0 ] && [ "$(head -n 1 "$T/evaluation.csv")" = \
        "score,ap,auroc,precision_at_p,hits_at_10,positives,images,selected,precision,recall,f1" ] &&
        [ "$(awk -F, '$6 == 1 && $7 == 3' "$T/evaluation.csv" | wc -l)" -eq 8 ] &&
        [ "$(tail -n 1 "$T/evaluation.csv" | cut -d, -f1)" = flagged ] &&
        grep -q '"evaluation"' "$T/report.json"; then
        ok truth_writes_evaluation
    else
        not_ok truth_writes_evaluation "exit $RC; $(head -c 300 "$T/evaluation.csv" 2>&1)"
    fi
    run truth_rerun audit --labels "$TMP/valid/labels" --probs "$TMP/valid/probs.h5" \
        --out "$T" -q
    if [ "$RC" -eq 0 ] && [ ! -e "$T/evaluation.csv" ]; then
        ok rerun_without_truth_drops_evaluation
    else
        not_ok rerun_without_truth_drops_evaluation "exit $RC; $(ls "$T" | tr '\n' ' ')"
    fi
    printf 'image,mislabeled\nimg_000,0\nimg_002,1\n' >"$TMP/valid/truth_short.csv"
    expect_fail truth_missing_row 1 "$TMP/valid/out_truth_short" 'truth_short\.csv' \
        "no row for image 'img_001'" \
        audit --labels "$TMP/valid/labels" --probs "$TMP/valid/probs.h5" \
        --out "$TMP/valid/out_truth_short" --truth "$TMP/valid/truth_short.csv" -q
    printf 'image,mislabeled\nimg_000,0\nimg_001,maybe\nimg_002,1\n' >"$TMP/valid/truth_bad.csv"
    expect_fail truth_bad_value 1 "$TMP/valid/out_truth_bad" 'truth_bad\.csv:3' \
        'maybe' \
        audit --labels "$TMP/valid/labels" --probs "$TMP/valid/probs.h5" \
        --out "$TMP/valid/out_truth_bad" --truth "$TMP/valid/truth_bad.csv" -q
fi

# ---- --on-error skip ------------------------------------------------------------
if mkfix skip_nan --images 4 --nan-at 1 && mkfix skip_png --images 4 --truncate-label 2; then
    run skip_nan audit --labels "$TMP/skip_nan/labels" --probs "$TMP/skip_nan/probs.h5" \
        --out "$TMP/skip_nan/out" --on-error skip
    if [ "$RC" -eq 0 ] && grep -q '^img_001,1,.*NaN' "$TMP/skip_nan/out/skipped.csv" &&
        [ "$(grep -c '' "$TMP/skip_nan/out/images.csv")" -eq 4 ] &&
        ! grep -q 'img_001' "$TMP/skip_nan/out/images.csv" &&
        grep -q '"images_skipped": 1' "$TMP/skip_nan/out/report.json" &&
        grep -q '1 images skipped' "$ERRF"; then
        ok on_error_skip_nan
    else
        not_ok on_error_skip_nan "exit $RC; $(first_lines "$ERRF")"
    fi
    run skip_png audit --labels "$TMP/skip_png/labels" --probs "$TMP/skip_png/probs.h5" \
        --out "$TMP/skip_png/out" --on-error skip -q
    if [ "$RC" -eq 0 ] && grep -q '^img_002,2,.*truncated' "$TMP/skip_png/out/skipped.csv"; then
        ok on_error_skip_truncated_png
    else
        not_ok on_error_skip_truncated_png "exit $RC; $(first_lines "$ERRF")"
    fi
    # the label file fails half-way through its rows, read ahead of the
    # scoring: the same outputs whatever the thread count and band size
    same=1
    for t in 1 2 4; do
        for b in 1K 1M; do
            o="$TMP/skip_png/out_t${t}_b${b}"
            run "skip_png_t${t}_b${b}" audit --labels "$TMP/skip_png/labels" \
                --probs "$TMP/skip_png/probs.h5" --out "$o" --on-error skip \
                --threads "$t" --band-size "$b" -q
            for f in images.csv skipped.csv classes.csv; do
                cmp -s "$o/$f" "$TMP/skip_png/out/$f" || same=0
            done
        done
    done
    if [ "$same" = 1 ]; then
        ok on_error_skip_truncated_png_any_threads
    else
        not_ok on_error_skip_truncated_png_any_threads "outputs differ from the first run's"
    fi
    expect_fail skip_too_many 1 "$TMP/skip_png/out_max" 'max-skipped;img_002' 'skipped' \
        audit --labels "$TMP/skip_png/labels" --probs "$TMP/skip_png/probs.h5" \
        --out "$TMP/skip_png/out_max" --on-error skip --max-skipped 0 -q
    expect_fail on_error_bad 2 "$TMP/skip_png/out_bad" 'on-error' 'fail or skip' \
        audit --labels "$TMP/skip_png/labels" --probs "$TMP/skip_png/probs.h5" \
        --out "$TMP/skip_png/out_bad" --on-error ignore -q
fi

# ---- probabilities that do not sum to 1 ----------------------------------------
if mkfix unnormalised --scale-at 1; then
    U=(--labels "$TMP/unnormalised/labels" --probs "$TMP/unnormalised/probs.h5")
    run sums_warn audit "${U[@]}" --out "$TMP/unnormalised/out" -q
    if [ "$RC" -eq 0 ] && grep -q "warning: 384 pixels .* 'img_001' at (row 0, col 0): sum 1.5" "$ERRF" &&
        grep -q '"pixels_summing_far_from_1": 384' "$TMP/unnormalised/out/report.json"; then
        ok sums_far_from_1_warned
    else
        not_ok sums_far_from_1_warned "exit $RC; $(first_lines "$ERRF")"
    fi
    expect_fail sums_strict 1 "$TMP/unnormalised/out_strict" "probs\.h5;img_001" 'sum' \
        audit "${U[@]}" --out "$TMP/unnormalised/out_strict" --strict -q
fi

# ---- review options ----------------------------------------------------------
if [ -d "$TMP/valid" ]; then
    V=(--labels "$TMP/valid/labels" --probs "$TMP/valid/probs.h5")
    run top_default audit "${V[@]}" --out "$TMP/valid/o_top" -q
    if [ "$RC" -eq 0 ] && [ "$(ls "$TMP/valid/o_top/overlays" | grep -c '\.png$')" -eq 3 ] &&
        [ -s "$TMP/valid/o_top/regions.csv" ]; then
        ok overlays_and_regions_written
    else
        not_ok overlays_and_regions_written "exit $RC; $(ls "$TMP/valid/o_top" 2>&1 | tr '\n' ' ')"
    fi
    run top_zero audit "${V[@]}" --out "$TMP/valid/o_top" --top 0 -q
    if [ "$RC" -eq 0 ] && [ ! -e "$TMP/valid/o_top/overlays" ]; then
        ok top_0_drops_overlays
    else
        not_ok top_0_drops_overlays "exit $RC"
    fi
    run progress_forced audit "${V[@]}" --out "$TMP/valid/o_prog" --progress
    if [ "$RC" -eq 0 ] && grep -q 'reading: 3/3 images' "$ERRF" &&
        grep -q 'report in' "$ERRF"; then
        ok progress_line_and_summary
    else
        not_ok progress_line_and_summary "exit $RC; $(first_lines "$ERRF")"
    fi
    run progress_quiet audit "${V[@]}" --out "$TMP/valid/o_prog" -q
    if [ "$RC" -eq 0 ] && [ ! -s "$ERRF" ]; then
        ok quiet_prints_nothing
    else
        not_ok quiet_prints_nothing "exit $RC; $(first_lines "$ERRF")"
    fi
    expect_fail classes_unknown 2 "$TMP/valid/o_preset" 'classes' 'unknown|preset' \
        audit "${V[@]}" --out "$TMP/valid/o_preset" --classes bogus -q
    printf '1 2 3\nred green blue\n' >"$TMP/valid/bad_palette.txt"
    expect_fail palette_bad_line 1 "$TMP/valid/o_pal" 'bad_palette\.txt:2' 'r g b|0\.\.255' \
        audit "${V[@]}" --out "$TMP/valid/o_pal" --palette "$TMP/valid/bad_palette.txt" -q
    printf '1 2 3\n4 5 6\n' >"$TMP/valid/short_palette.txt"
    expect_fail palette_too_short 2 "$TMP/valid/o_pal2" 'palette' 'colours|colors|K=' \
        audit "${V[@]}" --out "$TMP/valid/o_pal2" --palette "$TMP/valid/short_palette.txt" -q
fi

# ---- segaudit synth ---------------------------------------------------------
S="$TMP/synth"
run synth_ok synth --out "$S" --images 4 --size 32x64 --seed 3 -q
if [ "$RC" -eq 0 ] && [ -s "$S/probs.h5" ] && [ -s "$S/classes.txt" ] &&
    [ "$(grep -c '' "$S/truth.csv")" -eq 5 ] &&
    [ "$(ls "$S/labels" | grep -c '\.png$')" -eq 4 ]; then
    ok synth_writes_dataset
else
    not_ok synth_writes_dataset "exit $RC; $(first_lines "$ERRF")"
fi
run synth_again synth --out "$S" --images 4 --size 32x64 --seed 3 -q
if [ "$RC" -eq 1 ] && grep -qi 'force\|exist\|already' "$ERRF"; then
    ok synth_refuses_existing_dataset
else
    not_ok synth_refuses_existing_dataset "exit $RC; $(first_lines "$ERRF")"
fi
run synth_audit audit --labels "$S/labels" --probs "$S/probs.h5" \
    --truth "$S/truth.csv" --out "$S/out" -q
if [ "$RC" -eq 0 ] && [ -s "$S/out/evaluation.csv" ]; then
    ok synth_dataset_audits
else
    not_ok synth_dataset_audits "exit $RC; $(first_lines "$ERRF")"
fi
for bad in "--images 0" "--size 0x64" "--error-rate 2" "--dtype f8" "--bogus" \
        "--model strong" "--chunk-rows 0"; do
    # shellcheck disable=SC2086
    run synth_usage synth --out "$TMP/synth_bad" --size 32x64 --images 2 $bad -q
    if [ "$RC" -eq 2 ] && grep -q '^segaudit: ' "$ERRF" && [ ! -e "$TMP/synth_bad/probs.h5" ]; then
        ok "synth_usage ${bad%% *}"
    else
        not_ok "synth_usage ${bad%% *}" "exit $RC; $(first_lines "$ERRF")"
    fi
done

# ---- --dry-run: the inputs checked in full, nothing scored or written ----
if mkfix dry_ok --images 4; then
    D=$TMP/dry_ok
    run dry_ok audit --labels "$D/labels" --probs "$D/probs.h5" --dry-run
    if [ "$RC" -eq 0 ] && grep -q '^dry run: the inputs can be audited: 4 images' "$TMP/dry_ok.stdout" &&
        [ ! -e "$D/out" ]; then
        ok dry_run_ok
    else
        not_ok dry_run_ok "exit $RC; $(first_lines "$ERRF")"
    fi
fi
if mkfix dry_label --images 4 --label-value 7 --label-at 3; then
    expect_fail dry_run_bad_label_last_image 1 "$TMP/dry_label/out" 'img_003;7' 'not a class' \
        audit --labels "$TMP/dry_label/labels" --probs "$TMP/dry_label/probs.h5" --dry-run -q
fi
if mkfix dry_trunc --images 4 --truncate-label 2; then
    expect_fail dry_run_truncated_label 1 "$TMP/dry_trunc/out" 'img_002' \
        'truncat|corrupt|end|row' \
        audit --labels "$TMP/dry_trunc/labels" --probs "$TMP/dry_trunc/probs.h5" --dry-run -q
    run dry_trunc_skip audit --labels "$TMP/dry_trunc/labels" --probs "$TMP/dry_trunc/probs.h5" \
        --dry-run --on-error skip
    if [ "$RC" -eq 0 ] && grep -q "would skip 'img_002'" "$ERRF"; then ok dry_run_skip
    else not_ok dry_run_skip "exit $RC; $(first_lines "$ERRF")"; fi
fi

# ---- presets ignore their void value unless --ignore-index is given ------
V255="$TMP/void255"
run synth_void synth --out "$V255" --images 4 --size 32x64 --seed 5 --error-rate 1 --void 255 -q
if [ "$RC" -eq 0 ]; then
    expect_ok preset_ignores_void "$V255/out" 0 audit --labels "$V255/labels" \
        --probs "$V255/probs.h5" --out "$V255/out" --classes cityscapes -q
    got=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["parameters"]["ignore_index"])' \
        "$V255/out/report.json" 2>&1)
    if [ "$got" = "[255]" ]; then ok preset_void_in_report
    else not_ok preset_void_in_report "ignore_index: $got"; fi
    expect_fail preset_explicit_ignore 1 "$V255/out2" 'synth_0;255' 'not a class' \
        audit --labels "$V255/labels" --probs "$V255/probs.h5" --out "$V255/out2" \
        --classes cityscapes --ignore-index 254 -q
else
    not_ok synth_void "exit $RC; $(first_lines "$ERRF")"
fi

# ---- inputs that look wrong although every value is valid ----------------
# warns NAME OUT N PATTERN: the run exited 0, report.json has N warnings,
# stderr has a "warning:" line per warning, and PATTERN (if any) is in
# stderr, report.json and report.html.
warns() {
    local name=$1 out=$2 n=$3 pat=$4 why=() got
    [ "$RC" -eq 0 ] || why+=("exit status $RC")
    got=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["warnings"]))' \
        "$out/report.json" 2>/dev/null || echo none)
    [ "$got" = "$n" ] || why+=("report.json has $got warnings, expected $n")
    [ "$(grep -c '^segaudit: warning: ' "$ERRF")" = "$n" ] ||
        why+=("stderr has $(grep -c '^segaudit: warning: ' "$ERRF") warnings, expected $n")
    if [ -n "$pat" ]; then
        grep -qE -- "$pat" "$ERRF" || why+=("stderr lacks /$pat/")
        grep -qE -- "$pat" "$out/report.json" || why+=("report.json lacks /$pat/")
        grep -qE -- "$pat" "$out/report.html" || why+=("report.html lacks /$pat/")
    fi
    if [ ${#why[@]} -eq 0 ]; then ok "$name"
    else not_ok "$name" "$(printf '%s; ' "${why[@]}")[stderr: $(first_lines "$ERRF")]"; fi
}
if mkfix ids_none --ids none --images 12; then
    D=$TMP/ids_none
    run ids_none_names audit --labels "$D/labels" --probs "$D/probs.h5" --out "$D/out"
    warns ids_none_no_warning "$D/out" 0 ""
    if grep -q 'note: the image ids are the label file names sorted as text' "$ERRF" &&
        grep -q '"ids_source": *"names"' "$D/out/report.json"; then
        ok ids_none_note
    else
        not_ok ids_none_note "$(first_lines "$ERRF")"
    fi
    # frame_0 .. frame_11: as text, frame_10 and frame_11 come before
    # frame_2, so the predictions of images 2..11 meet other images' labels
    mkdir -p "$D/renamed"
    for i in $(seq 0 11); do
        cp "$D/labels/$(printf 'img_%03d' "$i").png" "$D/renamed/frame_$i.png"
    done
    run ids_renamed audit --labels "$D/renamed" --probs "$D/probs.h5" --out "$D/out2" -q
    warns ids_text_vs_numeric_order "$D/out2" 2 "'frame_11' comes before 'frame_2' as text"
    warns misaligned_images "$D/out2" 2 "more than half of the valid pixels disagree"
fi

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
