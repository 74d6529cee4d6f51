-- zhilid schema, version 1: the event log, entity state, class history
-- (一户一档) and alerts.  Applied once by the daemon at start, inside one
-- transaction, and recorded in schema_version.

CREATE TABLE schema_version (
	version	INTEGER PRIMARY KEY,
	name	TEXT NOT NULL,
	applied	INTEGER NOT NULL		-- Unix seconds
);

-- Every accepted event, in order.  seq is the position in the log; eid the
-- client's idempotency key, unique where given.
CREATE TABLE events (
	seq	INTEGER PRIMARY KEY,
	eid	TEXT,
	type	TEXT NOT NULL,
	ts	INTEGER NOT NULL,
	body	TEXT NOT NULL
);
CREATE UNIQUE INDEX events_eid ON events(eid) WHERE eid IS NOT NULL;

-- The current state of every entity: attributes, fields and classes as
-- JSON ({"attrs":{...},"fields":{...},"classes":{...}}).  A removed entity
-- keeps its row with removed = 1 until a later upsert starts it afresh.
CREATE TABLE entities (
	kind	TEXT NOT NULL,
	id	TEXT NOT NULL,
	state	TEXT NOT NULL,
	removed	INTEGER NOT NULL DEFAULT 0,
	created	INTEGER NOT NULL,
	updated	INTEGER NOT NULL,
	PRIMARY KEY (kind, id)
) WITHOUT ROWID;

-- Every class change of every entity, with its time and causing event.
CREATE TABLE history (
	id	INTEGER PRIMARY KEY,
	kind	TEXT NOT NULL,
	entity	TEXT NOT NULL,
	ts	INTEGER NOT NULL,
	rule	TEXT NOT NULL,
	from_class TEXT NOT NULL,
	to_class TEXT NOT NULL,
	event	TEXT,
	seq	INTEGER NOT NULL
);
CREATE INDEX history_entity ON history(kind, entity, id);

-- Alerts: the parts of the protocol's ALERT object (data is its JSON
-- object), the event log position that raised it (NULL for a timer's) and
-- whether an operator acknowledged it.
CREATE TABLE alerts (
	id	INTEGER PRIMARY KEY,
	rule	TEXT NOT NULL,
	severity TEXT NOT NULL,
	kind	TEXT NOT NULL,
	entity	TEXT NOT NULL,
	period	TEXT,
	ts	INTEGER NOT NULL,
	seq	INTEGER,
	message	TEXT NOT NULL,
	data	TEXT NOT NULL,
	event	TEXT,
	acked	INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX alerts_rule ON alerts(rule, id);
