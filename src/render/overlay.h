/* Review overlays: one 8-bit PNG per image, three panels side by side
 * (stored as a palette when the decorated overlay has 256 colours or
 * fewer, as class colours without a photo do; RGB otherwise).
 *
 *   +-----------+---+-----------+---+-----------------------------+
 *   | given     |gap| model's   |gap| issue pixels in red over a  |
 *   | labels    |   | argmax    |   | dimmed view of the labels   |
 *   | (classes) |   | (classes) |   | (or photo); regions boxed   |
 *   +-----------+---+-----------+---+-----------------------------+
 *
 * Scale: s = ceil(W / out_width); each output pixel stands for an s×s
 * block of the image (the blocks of the last row and column may be
 * shorter).  A panel is ceil(W/s) × ceil(H/s) pixels; the PNG is
 * 3·ceil(W/s) + 2·SA_OVERLAY_GAP wide and ceil(H/s) high.
 *
 *  - Panels 1 and 2: the block's most frequent label / argmax value (the
 *    lowest on ties) in its class colour; void values (ignored, or >= K)
 *    are SA_OVERLAY_VOID_RGB (black).
 *  - Panel 3: the block's panel-1 colour, or the box average of the photo
 *    block when a photo is given, dimmed with sa_overlay_dim(); a block
 *    with at least one issue pixel is SA_OVERLAY_ISSUE_RGB (pure red), so
 *    single issue pixels stay visible at any scale.  Each region's
 *    bounding box is outlined in SA_OVERLAY_BOX_RGB (yellow) by a frame
 *    t = sa_overlay_box_px() pixels thick: the panel blocks the box
 *    covers, grown by t on every side and clipped to the panel, minus
 *    that rectangle shrunk by t.  So the frame lies just outside the box,
 *    except on a side that touches the panel's edge, where it lies on the
 *    box's outermost blocks.  Issue pixels are drawn over frames.
 *  - Gaps: SA_OVERLAY_GAP_RGB (white).
 *
 *
 * Decorated (spec->decorate): a white band of panel titles above the
 * panels ("given labels", "model argmax", "issue pixels, regions"), and a
 * legend below them: the issue red, the region yellow, and a swatch with
 * the number and name of every class (and void) that panels 1 and 2 show,
 * in class order, in rows as wide as the PNG.  Text is a 5×7 pixel font
 * at scale 1 + panel_width / 400.  The panels are then kept in memory
 * until the legend is known: 2 bytes per output pixel (colour codes), or
 * 3 (RGB) with a photo or more than 32,765 classes.
 *
 * Streaming: the rows callback is asked for s full-resolution rows at a
 * time, top to bottom, and the photo is read one row at a time (interlaced
 * photos, which cannot be streamed, are decoded whole); one output row is
 * written per block row.  Memory: about 5·W·s bytes of rows, 4 bytes per
 * output column, 6 bytes per class + 256 KiB.
 *
 * Thread safety: no shared state; overlays of different images may be
 * written concurrently. */
#ifndef SA_OVERLAY_H
#define SA_OVERLAY_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "segaudit/audit.h"

#define SA_OVERLAY_GAP 4 /* pixels between panels */

/* Colours (r, g, b). */
#define SA_OVERLAY_VOID_RGB 0, 0, 0
#define SA_OVERLAY_GAP_RGB 255, 255, 255
#define SA_OVERLAY_ISSUE_RGB 255, 0, 0
#define SA_OVERLAY_BOX_RGB 255, 255, 0

/* Dimming of panel 3's background, per channel: 40 + 2c/5, in 40..142,
 * so neither the issue red nor the box yellow can occur in it. */
static inline uint8_t sa_overlay_dim(uint8_t c)
{
    return (uint8_t)(40 + c * 2 / 5);
}

/* Thickness of the region outlines for a panel width: 1, or 2 from 400
 * pixels on. */
static inline uint32_t sa_overlay_box_px(uint32_t panel_width)
{
    return panel_width >= 400 ? 2 : 1;
}

typedef struct SaOverlaySpec {
    uint32_t W, H;                 /* full-resolution image size, >= 1 */
    uint32_t K;                    /* classes, 1..65536 */
    const uint8_t (*palette)[3];   /* K colours */
    const uint8_t *ignored;        /* 65536 flags: label value is void, or
                                      NULL (none ignored) */
    uint32_t out_width;            /* max width of one panel, >= 1 */
    const char *photo_path;        /* PNG of W×H (gray, RGB, palette, with
                                      or without alpha, 1..16 bits), or NULL:
                                      panel 3 then dims the labels */
    const SegauditRegion *regions; /* bounding boxes to outline (full-
                                      resolution coordinates), or NULL */
    size_t n_regions;
    int decorate;                  /* 1: titles above, a legend below */
    const char *const *class_names; /* names for the legend, or NULL */
    int n_class_names;
} SaOverlaySpec;

/* Delivers full-resolution rows row0 .. row0+nrows-1 (called with row0 =
 * 0, s, 2s, ... in order; nrows = s except for a shorter last block):
 * labels and argmax as uint16 values, issue flags as bytes (non-zero =
 * issue pixel), each nrows·W values, row-major.  Returns 0, or a negative
 * SEGAUDIT_E* code after setting *err (a generic message is used when it
 * does not). */
typedef int (*SaOverlayRows)(void *ctx, uint32_t row0, uint32_t nrows,
                             uint16_t *labels, uint16_t *argmax,
                             uint8_t *issues, SaErr *err);

/* Output geometry of an overlay: scale s, one panel's size and the PNG's
 * size.  Returns 0, or SEGAUDIT_EINVAL when W, H or out_width is 0 or the
 * PNG would be wider than PNG allows. */
typedef struct SaOverlayGeometry {
    uint32_t scale;
    uint32_t panel_width, panel_height;
    uint32_t width, height;
} SaOverlayGeometry;
int sa_overlay_geometry(uint32_t W, uint32_t H, uint32_t out_width,
                        SaOverlayGeometry *g);

/* Writes the overlay of one image to out_path (overwriting).  Errors:
 * SEGAUDIT_EINVAL for a bad spec; SEGAUDIT_EINPUT for a photo that is
 * missing, not a PNG, corrupt or not W×H (the message names the photo);
 * SEGAUDIT_EIO when out_path cannot be written (the message names it);
 * SEGAUDIT_ENOMEM; or whatever the callback returned.  The photo is
 * checked before out_path is created; after a failure no partial file is
 * left at out_path (unless it is not a regular file, e.g. /dev/full). */
int sa_overlay_write(const SaOverlaySpec *spec, SaOverlayRows rows, void *ctx,
                     const char *out_path, SaErr *err);

#endif
