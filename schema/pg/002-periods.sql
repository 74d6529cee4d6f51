-- zhilid schema, version 2 (schema/002-periods.sql in PostgreSQL's
-- dialect): what the stateful primitives keep (scores, rankings and bands
-- per period, closed periods, marks) and the timers that must survive a
-- restart.  The daemon holds all of it in memory and writes it through, in
-- the same transaction as the event that changed it.

-- One row per rule, entity and period: a score's parts and total, a rank's
-- outcome (value = position from the bottom), a band's level.  grp is the
-- ranking group (for example a street) the entity was in for the period.
-- parts is a JSON object of part name to decimal.  period is "2026H1".
CREATE TABLE facts (
	rule	text NOT NULL,
	kind	text NOT NULL,
	entity	text NOT NULL,
	period	text NOT NULL,
	grp	text,
	value	bigint,				-- millionths; NULL: incomplete
	parts	text,
	ts	bigint NOT NULL,
	PRIMARY KEY (rule, kind, entity, period)
);

-- Periods closed by period.close: immutable from then on.
CREATE TABLE closures (
	cycle	text NOT NULL,
	grp	text NOT NULL,
	period	text NOT NULL,
	ts	bigint NOT NULL,
	seq	bigint NOT NULL,
	PRIMARY KEY (cycle, grp, period)
);

-- Marks on entities (a community under rectification) until a moment.
CREATE TABLE marks (
	name	text NOT NULL,
	kind	text NOT NULL,
	entity	text NOT NULL,
	since	bigint NOT NULL,
	until	bigint NOT NULL,
	PRIMARY KEY (name, kind, entity)
);

-- Pending timers: a deadline or a mark's expiry, owned by a rule.  The
-- key (rule, kind, entity, tag) is unique; aux is the rule's own datum.
CREATE TABLE timers (
	id	bigint PRIMARY KEY,
	due	bigint NOT NULL,
	rule	text NOT NULL,
	kind	text NOT NULL,
	entity	text NOT NULL,
	tag	text NOT NULL,
	aux	bigint NOT NULL
);

-- Small values the daemon keeps across restarts (the event clock, the
-- field a kind's group column holds).  Text: SQLite's column takes both.
CREATE TABLE meta (
	key	text PRIMARY KEY,
	value	text NOT NULL
);
