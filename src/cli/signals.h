/* SIGINT and SIGTERM during a run: a handler sets the cancel flag that the
 * library polls and keeps the signal for the exit status (128 + signal). */
#ifndef SEGAUDIT_CLI_SIGNALS_H
#define SEGAUDIT_CLI_SIGNALS_H

#include <signal.h>

/* The handlers that were in place before cli_catch_signals. */
typedef struct CliSignals {
    struct sigaction old_int, old_term;
} CliSignals;

/* Installs the handler for SIGINT and SIGTERM; the previous ones go into
 * *saved unless it is NULL. */
void cli_catch_signals(CliSignals *saved);
/* Puts back the handlers saved by cli_catch_signals. */
void cli_restore_signals(const CliSignals *saved);

/* Holds SIGINT and SIGTERM back until cli_unblock_signals(prev). */
void cli_block_signals(sigset_t *prev);
void cli_unblock_signals(const sigset_t *prev);

/* For the cancel field of the settings: non-zero once a signal came. */
const volatile int *cli_cancel_flag(void);
/* Non-zero once a signal came. */
int cli_cancelled(void);
/* The signal that came, or 0; cli_forget_signal sets it back to 0. */
int cli_signal(void);
void cli_forget_signal(void);
/* The exit status of an interrupted run: 128 + the signal (SIGINT when
 * none is known). */
int cli_interrupted_status(void);

#endif
