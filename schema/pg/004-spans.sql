-- zhilid schema, version 4 (schema/004-spans.sql in PostgreSQL's
-- dialect): spans, what a cadence rule keeps of an entity while it is held
-- in a group (a person in charge of a place): the group, since when, and
-- the periods in which an event that the rule counts came.

-- seen is the latest period with a counted event ("2026-05"), NULL if
-- none; bit i of seen_mask stands for the period i before it (bit 0: seen
-- itself), so that a late event still counts in its own period.
CREATE TABLE IF NOT EXISTS spans (
	rule	text NOT NULL,
	kind	text NOT NULL,
	entity	text NOT NULL,
	grp	text NOT NULL,
	since	bigint NOT NULL,
	seen	text,
	seen_mask bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (rule, kind, entity)
);
