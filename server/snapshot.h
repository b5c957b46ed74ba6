/* snapshot.h - syncmgrd's --snapshot FILE: what main.c calls (the request
 * handler, snap_op_save, is in srv.h). See server/snapshot.c. */
#ifndef SNAPSHOT_H
#define SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "srv.h"

/* The default of --snapshot-every, in seconds. */
#define SNAP_EVERY_DEFAULT 60

typedef struct srv_snap srv_snap;

/* snap_load fills st (empty, its limits set, not yet serving) from the
 * snapshot at path. A missing file is SM_OK with nothing loaded. Any other
 * failure (unreadable, damaged, an impossible state, a limit passed)
 * writes one line naming path and the fault into err and returns an SM_
 * status; st may then hold some of the objects and must be finished with
 * srv_state_fini. The file is only read. */
int snap_load(srv_state *st, const char *path, char *err, size_t errlen);

/* snap_start makes st->snap for path and starts the snapshot thread, which
 * writes the file every every_s seconds (0: never on its own) and whenever
 * a SNAPSHOT_SAVE asks. Call it with SIGINT and SIGTERM blocked, before
 * the network starts, after snap_load on the same path: the file loaded
 * counts as the last one written. Returns SM_OK, SM_ENOMEM or
 * SM_EINTERNAL. */
int snap_start(srv_snap **sp, srv_state *st, const char *path, int64_t every_s);

/* snap_stop_thread stops the snapshot thread once its write in progress,
 * if any, is done; snap_save then writes from the caller's thread. */
void snap_stop_thread(srv_snap *s);

/* snap_save writes the file now and answers the SNAPSHOT_SAVE requests
 * parked before it began. A state identical to the file this process
 * last wrote (still in place) is not written again. Returns SM_OK, or the
 * failure's status (logged; the old file is left as it was). */
int snap_save(srv_snap *s, const char *why);

/* snap_free stops the thread if it runs, answers any request still parked
 * (SM_EINTERNAL), clears st->snap and frees s. NULL is a no-op. */
void snap_free(srv_snap *s);

#endif
