/* Two small readers of text files a user writes by hand, and the label
 * remapping presets.
 *
 * Label maps: CSV lines "from,to" that rename label values (uint16, so
 * 0..65535) before they are audited; a preset (the Cityscapes labelIds ->
 * trainIds table) does the same without a file.  Image ids: one id per
 * line, in the order of the images of the tensor.
 *
 * Both readers trust nothing in the file: only regular files are read (a
 * FIFO or a device is refused, never waited on), the size is capped before
 * and while reading, lines are capped at SA_TEXT_LINE_MAX bytes, and a NUL
 * byte is refused.  Every message starts with "<path>:<line>: " when it is
 * about one line, with "<path>: " when it is about the whole file.
 *
 * Thread-safe: no state is kept between calls. */
#ifndef SA_TEXT_IN_H
#define SA_TEXT_IN_H

#include <stdint.h>

#include "common/error.h"
#include "common/strlist.h"

/* The longest line either reader accepts, in bytes, without its line
 * ending ("\n" or "\r\n"). */
#define SA_TEXT_LINE_MAX 4096
/* The largest label map file, and the largest id list file, in bytes. */
#define SA_LABEL_MAP_MAX_BYTES ((uint64_t)16 << 20)
#define SA_IDS_TEXT_MAX_BYTES ((uint64_t)256 << 20)

/* The number of entries of a label map: one per uint16 value. */
#define SA_LABEL_MAP_SIZE 65536

/* Reads the label map file at path and applies it to map (65536 entries,
 * which the caller has set, normally to the identity): for every line
 * "from,to", map[from] = to; values the file does not name keep their
 * entry.
 *
 * The file: lines "from,to" of two integers 0..65535 (leading zeros
 * allowed), with optional spaces or tabs around each number.  The first
 * line that is not blank or a comment may be the header "from,to" (exactly
 * that).  Blank lines (empty or only spaces and tabs) and comment lines
 * (whose first non-blank character is '#') are skipped.  Lines may end in
 * "\n" or "\r\n", the last one may have no line ending, and a UTF-8 byte
 * order mark at the start of the file is skipped.
 *
 * Refused with SEGAUDIT_EINPUT, naming what was found and what was
 * expected: a value that is not an integer or is out of range, a line
 * with one or more than two columns, a `from` value given on two lines
 * (both are named), a file without any mapping line, a NUL byte, a line
 * longer than SA_TEXT_LINE_MAX bytes, a file larger than
 * SA_LABEL_MAP_MAX_BYTES, a missing file or one that is not a regular
 * file.  Read errors are SEGAUDIT_EIO, allocation failures SEGAUDIT_ENOMEM.
 * On any error map is left exactly as it was. */
int sa_label_map_read(const char *path, uint16_t *map, SaErr *err);

/* Applies the named preset to map, as sa_label_map_read applies a file.
 *
 * "cityscapes": the official Cityscapes table from the label ids stored
 * in *_gtFine_labelIds.png (0..33) to the 19 train ids (0..18), with 255
 * for every id whose train id is 255 or -1 (ignored, "void").  The license
 * plate class (id -1) has no uint16 value and is not in the table.
 *
 * Values outside a preset's table (for Cityscapes: 34..65535) keep their
 * entry, normally the identity.  They are deliberately NOT sent to 255:
 * a label PNG holding such a value is not a Cityscapes labelIds file (a
 * trainIds file or another dataset, say), and leaving the value as it is
 * lets the caller's check that every label is below K (or ignored) report
 * the wrong input instead of silently ignoring those pixels.
 *
 * An unknown name is SEGAUDIT_EINVAL, with a message listing the known
 * names.  On error map is unchanged. */
int sa_label_map_preset(const char *name, uint16_t *map, SaErr *err);

/* The preset names, comma-separated, for help text: "cityscapes". */
const char *sa_label_map_preset_names(void);

/* Reads the image ids at path: one id per line, in order.  On success
 * *ids_out is an array of *n_out (>= 1) NUL-terminated strings, each
 * malloc'd, to be freed with sa_free_strings (common/strlist.h).
 *
 * A trailing '\r' of each line is dropped ("\r\n" line endings), the last
 * line may have no line ending, and a UTF-8 byte order mark at the start
 * of the file is skipped (an editor's artefact, never part of an id).
 * Duplicate ids are not checked here; the caller does that.
 *
 * Refused with SEGAUDIT_EINPUT: an empty file; an empty line anywhere
 * (also after the last id: only one final line ending is allowed, as every
 * line is the id of one image); an id with leading or trailing spaces; a
 * NUL byte, bytes that are not UTF-8, or a control character (C0, DEL or
 * C1, tab included); a line longer than SA_TEXT_LINE_MAX bytes; a file
 * larger than SA_IDS_TEXT_MAX_BYTES; a missing file or one that is not a
 * regular file.  Read errors are SEGAUDIT_EIO, allocation failures
 * SEGAUDIT_ENOMEM.  On error *ids_out is NULL and *n_out is 0. */
int sa_ids_text_read(const char *path, char ***ids_out, uint64_t *n_out,
                     SaErr *err);

#endif
