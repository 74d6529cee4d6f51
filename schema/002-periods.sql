-- zhilid schema, version 2: what the stateful primitives keep (scores,
-- rankings and bands per period, closed periods, marks) and the timers
-- that must survive a restart.  The daemon holds all of it in memory and
-- writes it through, in the same transaction as the event that changed it.

-- One row per rule, entity and period: a score's parts and total, a rank's
-- outcome (value = position from the bottom), a band's level.  grp is the
-- ranking group (for example a street) the entity was in for the period.
-- parts is a JSON object of part name to decimal.  period is "2026H1".
CREATE TABLE facts (
	rule	TEXT NOT NULL,
	kind	TEXT NOT NULL,
	entity	TEXT NOT NULL,
	period	TEXT NOT NULL,
	grp	TEXT,
	value	INTEGER,			-- millionths; NULL: incomplete
	parts	TEXT,
	ts	INTEGER NOT NULL,
	PRIMARY KEY (rule, kind, entity, period)
) WITHOUT ROWID;

-- Periods closed by period.close: immutable from then on.
CREATE TABLE closures (
	cycle	TEXT NOT NULL,
	grp	TEXT NOT NULL,
	period	TEXT NOT NULL,
	ts	INTEGER NOT NULL,
	seq	INTEGER NOT NULL,
	PRIMARY KEY (cycle, grp, period)
) WITHOUT ROWID;

-- Marks on entities (a community under rectification) until a moment.
CREATE TABLE marks (
	name	TEXT NOT NULL,
	kind	TEXT NOT NULL,
	entity	TEXT NOT NULL,
	since	INTEGER NOT NULL,
	until	INTEGER NOT NULL,
	PRIMARY KEY (name, kind, entity)
) WITHOUT ROWID;

-- Pending timers: a deadline or a mark's expiry, owned by a rule.  The
-- key (rule, kind, entity, tag) is unique; aux is the rule's own datum.
CREATE TABLE timers (
	id	INTEGER PRIMARY KEY,
	due	INTEGER NOT NULL,
	rule	TEXT NOT NULL,
	kind	TEXT NOT NULL,
	entity	TEXT NOT NULL,
	tag	TEXT NOT NULL,
	aux	INTEGER NOT NULL
);

-- Small values the daemon keeps across restarts (the event clock).
CREATE TABLE meta (
	key	TEXT PRIMARY KEY,
	value	INTEGER NOT NULL
) WITHOUT ROWID;
