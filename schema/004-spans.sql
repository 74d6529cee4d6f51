-- zhilid schema, version 4: spans, what a cadence rule keeps of an entity
-- while it is held in a group (a person in charge of a place): the group,
-- since when, and the periods in which an event that the rule counts came.
-- The daemon holds them in memory and writes them through, in the same
-- transaction as the event that changed them.  (IF NOT EXISTS: a database
-- taken back to an older version by hand may keep the table.)

-- seen is the latest period with a counted event ("2026-05"), NULL if
-- none; bit i of seen_mask stands for the period i before it (bit 0: seen
-- itself), so that a late event still counts in its own period.
CREATE TABLE IF NOT EXISTS spans (
	rule	TEXT NOT NULL,
	kind	TEXT NOT NULL,
	entity	TEXT NOT NULL,
	grp	TEXT NOT NULL,
	since	INTEGER NOT NULL,
	seen	TEXT,
	seen_mask INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (rule, kind, entity)
) WITHOUT ROWID;
