-- zhilid schema, version 5 (schema/005-groups.sql in PostgreSQL's
-- dialect): the group an entity belongs to, for the map.  grp is the value
-- of the entity's first declared field (a household's community), NULL if
-- its kind declares none or the entity has no value; meta key "group.KIND"
-- records which field it holds.
ALTER TABLE entities ADD COLUMN grp text COLLATE "C";
CREATE INDEX entities_grp ON entities(kind, grp, id) WHERE grp IS NOT NULL;
