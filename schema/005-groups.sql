-- zhilid schema, version 5: the group an entity belongs to, for the map.
-- grp is the value of the entity's first declared field (a household's
-- community), kept for the kinds that a classify rule maps so that a
-- community's page reads its live entities through an index instead of
-- the whole table; NULL for the other kinds (whose writes then cost the
-- index nothing) and where there is no value.  The daemon writes it with
-- every entity and, when the rules name another first field for a kind, or
-- map a kind or no longer (and after this migration), fills it again for
-- that kind's rows in one transaction; meta key "group.KIND" records which
-- field it holds ("" for none).
ALTER TABLE entities ADD COLUMN grp TEXT;
CREATE INDEX entities_grp ON entities(kind, grp, id) WHERE grp IS NOT NULL;
