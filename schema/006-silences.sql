-- zhilid schema, version 6: who acknowledged an alert and when, and
-- silences.  acked stays the flag that `alerts` filters on; acked_by (the
-- peer's uid) and acked_ts (the daemon's clock) are set with it by the
-- first ack and never changed.  Rows acknowledged before this migration
-- keep acked = 1 with both NULL: acknowledged, by whom and when unknown.
-- silenced is the id of the silence that matched the alert when it was
-- raised, NULL if none did.
ALTER TABLE alerts ADD COLUMN acked_by INTEGER;
ALTER TABLE alerts ADD COLUMN acked_ts INTEGER;
ALTER TABLE alerts ADD COLUMN silenced INTEGER;

-- Silences: match is the JSON object of the `silence` command's match keys
-- as given; until the last moment it covers (Unix seconds, on the daemon's
-- clock); uid and created who made it and when; ended and ended_by set by
-- `unsilence`.  Rows are never deleted: the record of who silenced what
-- stays.
CREATE TABLE silences (
	id	INTEGER PRIMARY KEY,
	match	TEXT NOT NULL,
	until	INTEGER NOT NULL,
	comment	TEXT,
	uid	INTEGER NOT NULL,
	created	INTEGER NOT NULL,
	ended	INTEGER,
	ended_by INTEGER
);
