-- zhilid schema, version 5: the group an entity belongs to, for the map.
-- grp is the value of the entity's first declared field (a household's
-- community), NULL if its kind declares none or the entity has no value,
-- so that a community's page reads its live entities through an index
-- instead of the whole table.  The daemon writes it with every entity and,
-- when the rules name another first field for a kind (or, after this
-- migration, none is recorded yet), fills it again for that kind's rows in
-- one transaction; meta key "group.KIND" records which field it holds.
ALTER TABLE entities ADD COLUMN grp TEXT;
CREATE INDEX entities_grp ON entities(kind, grp, id) WHERE grp IS NOT NULL;
