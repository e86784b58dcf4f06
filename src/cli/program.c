/* The segaudit program's entry point (segaudit-mpi has its own:
 * src/mpi/main.c). */
#include "util.h"

int main(int argc, char **argv)
{
    return cli_main(argc, argv);
}
