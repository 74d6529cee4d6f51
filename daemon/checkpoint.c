/*
 * WAL checkpoints off the writer's path.
 *
 * SQLite's own automatic checkpoint runs inside the COMMIT that crosses
 * the threshold, on the writer thread: it reads every frame of the WAL,
 * writes it into the database file and syncs it, and the writer commits
 * nothing meanwhile (a quarter of its time under a steady load).  Here a
 * thread of its own, on a connection of its own, copies the frames while
 * the writer goes on committing.
 *
 * A WAL starts again from its beginning only when a writer opens a
 * transaction and every frame in it has been copied, which a checkpoint
 * running beside a busy writer never achieves on its own: frames keep
 * coming.  So the work is split.  When the WAL passes CKPT_FRAMES after a
 * commit, the writer wakes this thread, which copies what is there (a
 * passive checkpoint: it takes no lock the writer needs).  After the
 * writer's next commit that finds the pass finished, the writer copies
 * the frames committed during it (few, and most of the database file's
 * sync already done), so its next transaction restarts the WAL.  The WAL
 * thus stays about twice CKPT_FRAMES under any load.  A checkpoint that
 * fails is logged and tried again at the next threshold; the WAL then
 * grows, nothing is lost.  Closing the last connection (store_close)
 * checkpoints the rest.
 */
#include <sys/resource.h>
#include <sys/syscall.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "zhilid.h"
#include "store-impl.h"

#define CKPT_FRAMES	4096	/* 64 MiB of 16 KiB pages */
#define CKPT_NICE	10

enum { CK_IDLE, CK_WANTED, CK_RUNNING, CK_DONE };

struct ckpt {
	sqlite3		*wdb;		/* the writer's, whose commits we follow */
	sqlite3		*db;		/* this thread's connection */
	pthread_t	 thread;
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	int		 state;		/* CK_*, under mu */
	int		 stop;
	unsigned long	 passes;	/* for the log at the end */
};

static void
passive(sqlite3 *db, const char *who)
{
	int rc, log = 0, done = 0;

	rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE,
	    &log, &done);
	if (rc != SQLITE_OK && rc != SQLITE_BUSY)
		log_warnx("database: checkpoint (%s) failed: %s", who,
		    sqlite3_errmsg(db));
	else
		log_debug("database: checkpoint (%s): %d of %d frames", who,
		    done, log);
}

static void *
ckpt_main(void *arg)
{
	struct ckpt *ck = arg;

	/*
	 * Copying can wait; the loop and the writer cannot.  At a lower
	 * priority the copying takes the time the other threads leave.
	 */
	if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid),
	    CKPT_NICE) == -1)
		log_debug("database: checkpoint thread priority: %s",
		    strerror(errno));

	pthread_mutex_lock(&ck->mu);
	for (;;) {
		while (ck->state != CK_WANTED && !ck->stop)
			pthread_cond_wait(&ck->cv, &ck->mu);
		if (ck->stop)
			break;
		ck->state = CK_RUNNING;
		pthread_mutex_unlock(&ck->mu);
		passive(ck->db, "background");
		pthread_mutex_lock(&ck->mu);
		ck->state = CK_DONE;
		ck->passes++;
	}
	pthread_mutex_unlock(&ck->mu);
	return NULL;
}

/*
 * The writer connection's WAL hook: called on the writer thread after
 * each commit, with the number of frames now in the WAL.
 */
static int
wal_hook(void *arg, sqlite3 *wdb, const char *name, int frames)
{
	struct ckpt *ck = arg;
	int tail = 0;

	pthread_mutex_lock(&ck->mu);
	if (ck->state == CK_DONE) {
		ck->state = CK_IDLE;
		tail = 1;
	} else if (ck->state == CK_IDLE && frames >= CKPT_FRAMES) {
		ck->state = CK_WANTED;
		pthread_cond_signal(&ck->cv);
	}
	pthread_mutex_unlock(&ck->mu);
	if (tail)
		passive(wdb, "tail");
	return SQLITE_OK;
}

/*
 * Checkpoint wdb's database from a thread of its own, on db (a connection
 * to the same file, which the checkpointer then owns).
 */
struct ckpt *
ckpt_start(sqlite3 *wdb, sqlite3 *db)
{
	struct ckpt *ck = xcalloc(1, sizeof *ck);

	ck->wdb = wdb;
	ck->db = db;
	pthread_mutex_init(&ck->mu, NULL);
	pthread_cond_init(&ck->cv, NULL);
	if (pthread_create(&ck->thread, NULL, ckpt_main, ck) != 0)
		fatalx("cannot start the checkpoint thread");
	sqlite3_wal_hook(wdb, wal_hook, ck);	/* replaces the automatic one */
	return ck;
}

/* After the writer has stopped: stop the thread and close its connection. */
void
ckpt_stop(struct ckpt *ck)
{
	if (ck == NULL)
		return;
	pthread_mutex_lock(&ck->mu);
	ck->stop = 1;
	pthread_cond_signal(&ck->cv);
	pthread_mutex_unlock(&ck->mu);
	pthread_join(ck->thread, NULL);
	sqlite3_wal_hook(ck->wdb, NULL, NULL);
	log_debug("database: %lu background checkpoints", ck->passes);
	sqlite3_close(ck->db);
	pthread_mutex_destroy(&ck->mu);
	pthread_cond_destroy(&ck->cv);
	free(ck);
}
