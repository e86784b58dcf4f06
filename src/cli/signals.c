/* The signal handler of the program and the state it sets: the cancel
 * flag the library polls, and which signal came. */
#include <signal.h>
#include <string.h>

#include "signals.h"

static volatile int g_cancel;
static volatile sig_atomic_t g_signal;

static void on_signal(int sig)
{
    g_signal = sig;
    g_cancel = 1;
}

void cli_catch_signals(CliSignals *saved)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, saved ? &saved->old_int : NULL);
    sigaction(SIGTERM, &sa, saved ? &saved->old_term : NULL);
}

void cli_restore_signals(const CliSignals *saved)
{
    sigaction(SIGINT, &saved->old_int, NULL);
    sigaction(SIGTERM, &saved->old_term, NULL);
}

void cli_block_signals(sigset_t *prev)
{
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, prev);
}

void cli_unblock_signals(const sigset_t *prev)
{
    sigprocmask(SIG_SETMASK, prev, NULL);
}

const volatile int *cli_cancel_flag(void)
{
    return &g_cancel;
}

int cli_cancelled(void)
{
    return g_cancel;
}

int cli_signal(void)
{
    return (int)g_signal;
}

void cli_forget_signal(void)
{
    g_signal = 0;
}

int cli_interrupted_status(void)
{
    return 128 + (g_signal ? (int)g_signal : SIGINT);
}
