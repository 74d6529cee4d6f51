-- zhilid schema, version 6 (schema/006-silences.sql in PostgreSQL's
-- dialect): who acknowledged an alert and when, and silences.  acked stays
-- the flag that `alerts` filters on; acked_by (the peer's uid) and
-- acked_ts (the daemon's clock) are set with it by the first ack and never
-- changed.  silenced is the id of the silence that matched the alert when
-- it was raised, NULL if none did.
ALTER TABLE alerts ADD COLUMN acked_by bigint;
ALTER TABLE alerts ADD COLUMN acked_ts bigint;
ALTER TABLE alerts ADD COLUMN silenced bigint;

-- Silences: match is the JSON object of the `silence` command's match keys
-- as given; until the last moment it covers (Unix seconds, on the daemon's
-- clock); uid and created who made it and when; ended and ended_by set by
-- `unsilence`.  Rows are never deleted: the record of who silenced what
-- stays.
CREATE TABLE silences (
	id	bigint PRIMARY KEY,
	match	text NOT NULL,
	until	bigint NOT NULL,
	comment	text,
	uid	bigint NOT NULL,
	created	bigint NOT NULL,
	ended	bigint,
	ended_by bigint
);
