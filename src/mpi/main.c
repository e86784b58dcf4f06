/* segaudit-mpi: the segaudit program as the ranks of an MPI job.
 *
 *   mpirun -np R segaudit-mpi audit ...   the audit shared among R ranks,
 *                                          identical to one process's
 *   mpirun -np R segaudit-mpi synth ...   other commands: rank 0 alone
 *
 * Ranks above 0 are silent: every failure is agreed among the ranks and
 * rank 0 prints it (SEGAUDIT_MPI_OUTPUT=all keeps their output, for
 * debugging).  Every rank exits with rank 0's status. */
#include <fcntl.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../cli/util.h"
#include "comm.h"

/* A rank that must stop before the audit's exchanges (a usage error, an
 * input the program checks first) ends the whole job: the other ranks may
 * not stop at the same point, and mpirun ends them when a rank exits
 * without MPI_Finalize, with that rank's status.  (MPI_Abort from several
 * ranks at once can crash Open MPI 4.1's mpirun.) */
static void end_job(int status)
{
    fflush(stdout);
    fflush(stderr);
    _exit(status);
}

static void silence(void)
{
    const char *keep = getenv("SEGAUDIT_MPI_OUTPUT");
    if (keep && !strcmp(keep, "all"))
        return;
    int fd = open("/dev/null", O_WRONLY);
    if (fd < 0)
        return;
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    close(fd);
}

int main(int argc, char **argv)
{
    /* the exchanges are made by the thread that runs the audit, outside
     * its OpenMP regions */
    int provided;
    if (MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) !=
        MPI_SUCCESS) {
        fprintf(stderr, "segaudit-mpi: MPI could not be started\n");
        return 1;
    }
    if (provided < MPI_THREAD_FUNNELED) {
        fprintf(stderr, "segaudit-mpi: this MPI library does not allow "
                "threads (MPI_THREAD_FUNNELED)\n");
        end_job(1);
    }
    static SegauditComm comm;
    mpi_comm_init(&comm);
    cli_comm = &comm;
    cli_exit_hook = end_job;
    if (comm.rank > 0)
        silence();

    int status = 0;
    if (argc > 1 && !strcmp(argv[1], "audit"))
        status = cli_main(argc, argv);
    else if (comm.rank == 0)
        status = cli_main(argc, argv);
    fflush(stdout);
    fflush(stderr);
    MPI_Bcast(&status, 1, MPI_INT, 0, MPI_COMM_WORLD);
    MPI_Finalize();
    return status;
}
