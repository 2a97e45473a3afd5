/* Compile-only test: wal.h builds as C99 and C++, and may be included twice. */
#include "wal.h"
#include "wal.h"

int main(void) {
    wal_options_t opts;
    wal_options_init(&opts);
    wal_t *w = 0;
    (void)w;
    return (int)opts.sync_mode + WAL_OK + (WAL_OP_CHECKPOINT == 255 ? 0 : 1);
}
