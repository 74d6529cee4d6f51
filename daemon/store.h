/* store.c: SQLite storage of events, entities, history and alerts. */
#ifndef STORE_H
#define STORE_H

#include <stdint.h>

struct buf;
struct store;

struct store	*store_open(const char *, int, char **);
void		 store_close(struct store *);
const char	*store_error(struct store *);
int		 store_begin(struct store *);
int		 store_commit(struct store *);
void		 store_rollback(struct store *);
int64_t		 store_max_seq(struct store *);
int64_t		 store_max_alert(struct store *);
int		 store_event_find(struct store *, const char *, int64_t *);
int		 store_event_insert(struct store *, int64_t, const char *,
		    const char *, int64_t, const char *, size_t);
int		 store_entity_load(struct store *, const char *, const char *,
		    char **, int *, int64_t *);
int		 store_entity_save(struct store *, const char *, const char *,
		    const char *, size_t, int, int64_t, int64_t);
int		 store_history_insert(struct store *, const char *,
		    const char *, int64_t, const char *, const char *,
		    const char *, const char *, int64_t);
int		 store_history_json(struct store *, const char *, const char *,
		    int, struct buf *);
int		 store_alert_insert(struct store *, int64_t, const char *,
		    const char *, const char *, const char *, const char *,
		    int64_t, int64_t, const char *, size_t);
int		 store_alerts_json(struct store *, int64_t, int64_t,
		    const char *, struct buf *, int64_t *);
int		 store_alert_ack(struct store *, int64_t);
int		 store_count(struct store *, const char *, int64_t *);

#endif
