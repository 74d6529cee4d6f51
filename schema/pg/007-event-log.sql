-- zhilid schema, version 7 (schema/007-event-log.sql in PostgreSQL's
-- dialect): an event log that keeps years of events.
--
-- Retention.  With `retention: {events: DAYS}` the daemon deletes the
-- events older than that, by their ts, a batch at a time; this index finds
-- them without a pass over the whole log.  The meta key "events.pruned"
-- (written by the deletion) keeps the last seq deleted, so that a log
-- emptied by retention still counts on from it.
CREATE INDEX events_ts ON events(ts);

-- Shapes.  Lines of one type repeat the same keys line after line: a new
-- event's body is its values alone (the tokens as sent, strings without
-- their quotes, joined by the byte 0x1f) and shape names the template
-- that puts them back into the line, with the id and an integer ts taken
-- from their columns (daemon/evlog.c).  A NULL shape, as in every row
-- written before this version, means the body is the line itself.
CREATE TABLE shapes (
	id	bigint PRIMARY KEY,
	template text NOT NULL
);
ALTER TABLE events ADD COLUMN shape bigint;
