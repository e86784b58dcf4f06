/* A SegauditComm over MPI_COMM_WORLD. */
#ifndef SEGAUDIT_MPI_COMM_H
#define SEGAUDIT_MPI_COMM_H

#include "segaudit/segaudit.h"

/* Fills c for this process (after MPI_Init). */
void mpi_comm_init(SegauditComm *c);

#endif
