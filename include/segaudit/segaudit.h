/* segaudit — find annotation errors in semantic-segmentation datasets.
 *
 * The umbrella header of the public API.  A program includes only this.
 *
 * Layers of the library (one-way: each uses only those above it):
 *   readers   src/png_io.c (label PNGs, mask PNGs), src/h5_probs.c (HDF5)
 *   kernels   src/kernels.c: per-row arithmetic, no I/O, no threads
 *   records   src/records.c: candidate-pixel store that spills to disk,
 *             src/select.c: exact k-th smallest over that store
 *   engine    src/audit.c: the two passes, OpenMP workers, aggregation
 *   writers   src/report.c: CSV and JSON; masks are written by the engine
 *   synth     src/synth.c, src/synth_scene.c, src/h5_write.c: synthetic
 *             datasets with known errors
 *
 * Thread safety: the functions may be called from any thread.  One object
 * must not be used by two threads at once, and runs of different objects
 * are serialised (the HDF5 library is not thread-safe); each run uses its
 * own OpenMP worker pool.
 */
#ifndef SEGAUDIT_SEGAUDIT_H
#define SEGAUDIT_SEGAUDIT_H

#include "segaudit/common.h"
#include "segaudit/audit.h"
#include "segaudit/classes.h"
#include "segaudit/report.h"
#include "segaudit/synth.h"

#endif
