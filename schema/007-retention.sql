-- zhilid schema, version 7: retention.  With `retention: {events: DAYS}`
-- the daemon deletes the events older than that, by their ts, a batch at
-- a time; this index finds them without a pass over the whole log.  The
-- meta key "events.pruned" (written by the deletion) keeps the last seq
-- deleted, so that a log emptied by retention still counts on from it.
CREATE INDEX IF NOT EXISTS events_ts ON events(ts);
