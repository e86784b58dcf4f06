/* Text for the overlays' panel titles and legends: a 5×7 pixel font of the
 * printable ASCII characters (others, and each UTF-8 character, are drawn
 * as '?'), at an integer scale, into a row-major RGB canvas. */
#ifndef SA_TEXT_H
#define SA_TEXT_H

#include <stdint.h>

#define SA_GLYPH_W 5
#define SA_GLYPH_H 7
#define SA_GLYPH_ADVANCE 6 /* a glyph and one column of space */

/* The width of text at scale, in pixels (0 for ""). */
uint32_t sa_text_width(const char *text, uint32_t scale);

/* Draws text with its top-left corner at (x, y) of the cw × chh canvas, in
 * colour rgb, stopping before the first character that would pass
 * x + max_width or the canvas's edge; returns the x after the last
 * character drawn. */
uint32_t sa_text_draw(uint8_t *canvas, uint32_t cw, uint32_t chh, uint32_t x,
                      uint32_t y, uint32_t scale, const char *text,
                      uint32_t max_width, const uint8_t rgb[3]);

#endif
