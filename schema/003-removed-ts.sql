-- zhilid schema, version 3: when an entity was removed.  A removed
-- entity's record is closed, not deleted: `get` still answers it, with
-- "removed" set to the removal's ts, so the ts is kept beside the flag.
-- NULL while the entity is live.
ALTER TABLE entities ADD COLUMN removed_ts INTEGER;

-- Entities removed before this version.  Their ts is that of the last
-- logged event naming the entity under its kind's key: the removal itself,
-- since a removed entity takes no event but the upsert that opens it again
-- (unless an event of another kind has a field of that name).  The text
-- test before the JSON one keeps the scan of a long log cheap, and skips
-- it when nothing was removed.  Where the log holds no such event, the
-- time the row was written stands in, close to it under the wall clock.
-- Their attributes were wiped at removal then, and stay so.
UPDATE entities SET removed_ts = updated WHERE removed <> 0;
UPDATE entities SET removed_ts = last.ts
FROM (SELECT k.kind AS kind, json_extract(e.body, '$.' || k.kind) AS id,
	    e.ts AS ts, max(e.seq)
	FROM (SELECT DISTINCT kind FROM entities WHERE removed <> 0) AS k,
	    events AS e
	WHERE instr(e.body, '"' || k.kind || '"') > 0
	GROUP BY 1, 2) AS last
WHERE entities.removed <> 0 AND entities.kind = last.kind AND
    entities.id = last.id;
