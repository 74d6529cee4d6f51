-- zhilid schema, version 3 (schema/003-removed-ts.sql in PostgreSQL's
-- dialect): when an entity was removed.  A removed entity's record is
-- closed, not deleted: `get` still answers it, with "removed" set to the
-- removal's ts, so the ts is kept beside the flag.  NULL while the entity
-- is live.
ALTER TABLE entities ADD COLUMN removed_ts bigint;

-- Entities removed before this version: the ts of the last logged event
-- naming the entity under its kind's key, else the time the row was
-- written (as in SQLite's step; a database that starts at version 1 has
-- none).
UPDATE entities SET removed_ts = updated WHERE removed <> 0;
UPDATE entities SET removed_ts = last.ts
FROM (SELECT DISTINCT ON (k.kind, e.body::json ->> k.kind)
	    k.kind AS kind, e.body::json ->> k.kind AS id, e.ts AS ts
	FROM (SELECT DISTINCT kind FROM entities WHERE removed <> 0) AS k,
	    events AS e
	WHERE strpos(e.body, '"' || k.kind || '"') > 0
	ORDER BY k.kind, e.body::json ->> k.kind, e.seq DESC) AS last
WHERE entities.removed <> 0 AND entities.kind = last.kind AND
    entities.id = last.id;
