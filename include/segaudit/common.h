/* Error codes and version of the segaudit library. */
#ifndef SEGAUDIT_COMMON_H
#define SEGAUDIT_COMMON_H

#ifdef __cplusplus
extern "C" {
#endif

#define SEGAUDIT_VERSION_MAJOR 0
#define SEGAUDIT_VERSION_MINOR 1
#define SEGAUDIT_VERSION_PATCH 0
#define SEGAUDIT_VERSION_STRING "0.1.0"

/* Return codes.  Every function that can fail returns 0 or one of these. */
#define SEGAUDIT_OK 0
#define SEGAUDIT_EINPUT (-1)   /* the dataset is wrong: bad file, bad value  */
#define SEGAUDIT_EIO (-2)      /* reading or writing failed (disk, perms)    */
#define SEGAUDIT_ENOMEM (-3)   /* an allocation failed                       */
#define SEGAUDIT_EINVAL (-4)   /* a setting is invalid (usage error)         */
#define SEGAUDIT_ECANCEL (-5)  /* the run was cancelled                      */

/* Version of the library actually linked, e.g. "0.1.0". */
const char *segaudit_version(void);

/* A short English name for a return code ("input error", ...). */
const char *segaudit_strerror(int code);

#ifdef __cplusplus
}
#endif

#endif
