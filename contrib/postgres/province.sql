-- Province-wide views over the schemas of district daemons (zhilid(8),
-- "Active and standby" and "One daemon per district").  Each district's
-- zhilid (or active/standby pair) keeps its tables in a schema of its own
-- in one PostgreSQL cluster (search_path in its connection string); this
-- file defines one function that (re)creates, in a schema of the
-- province's, views that read all of them at once:
--
--   entities      every district's entities: district, kind, id, state
--                 (the daemon's JSON text), removed, created, updated
--   alerts        every district's alerts, with their district
--   classes       live entities per district, kind, rule and class (the
--                 four-colour map's household colours: kind 'household',
--                 rule 'four_color')
--   open_alerts   alerts neither acknowledged nor silenced, per district,
--                 rule and severity, with the oldest one's time
--
-- Load it once, then call the function; call it again after a district is
-- added (the views read live data: nothing else needs refreshing):
--
--   psql -d zhilid -f province.sql
--   psql -d zhilid -c "SELECT zhilid_province('province')"
--   psql -d zhilid -c "SELECT * FROM province.classes WHERE kind = 'household'"
--
-- With no list, every schema that holds a zhilid database (schema_version,
-- entities and alerts, with schema 6's silenced column) is a district,
-- named by its schema; or name them:
--
--   SELECT zhilid_province('province', ARRAY['d_weicheng', 'd_kuiwen']);
--
-- The views run with their owner's rights: a dashboard's role needs only
-- USAGE on the province schema and SELECT on its views.  The function
-- returns how many districts the views cover.

CREATE OR REPLACE FUNCTION zhilid_province(target text,
    districts text[] DEFAULT NULL) RETURNS integer
LANGUAGE plpgsql
SET client_min_messages = warning	-- not DROP VIEW IF EXISTS's notices
AS $fn$
DECLARE
	d	text;
	n	integer := 0;
	ents	text := '';
	alts	text := '';
BEGIN
	IF districts IS NULL THEN
		SELECT array_agg(c.table_schema::text ORDER BY c.table_schema)
		INTO districts
		FROM information_schema.columns c
		WHERE c.table_name = 'alerts' AND c.column_name = 'silenced'
		    AND c.table_schema <> target
		    AND EXISTS (SELECT 1 FROM information_schema.tables t
			WHERE t.table_schema = c.table_schema
			    AND t.table_name = 'schema_version')
		    AND EXISTS (SELECT 1 FROM information_schema.tables t
			WHERE t.table_schema = c.table_schema
			    AND t.table_name = 'entities');
	END IF;
	IF districts IS NULL OR cardinality(districts) = 0 THEN
		RAISE EXCEPTION 'zhilid_province: no district schema found '
		    '(a schema with zhilid''s tables, schema 6 or later)';
	END IF;
	FOREACH d IN ARRAY districts LOOP
		IF NOT EXISTS (SELECT 1 FROM information_schema.columns
		    WHERE table_schema = d AND table_name = 'alerts'
			AND column_name = 'silenced') THEN
			RAISE EXCEPTION 'zhilid_province: schema % holds no '
			    'zhilid database of schema 6 or later', d;
		END IF;
		IF n > 0 THEN
			ents := ents || ' UNION ALL ';
			alts := alts || ' UNION ALL ';
		END IF;
		ents := ents || format('SELECT %L::text AS district, kind::text '
		    'AS kind, id::text AS id, state, removed, created, updated '
		    'FROM %I.entities', d, d);
		alts := alts || format('SELECT %L::text AS district, id, rule, '
		    'severity, kind, entity, period, ts, seq, message, data, '
		    'event, acked, acked_by, acked_ts, silenced FROM %I.alerts',
		    d, d);
		n := n + 1;
	END LOOP;
	EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I', target);
	-- the aggregates depend on the unions: drop them first
	EXECUTE format('DROP VIEW IF EXISTS %I.classes, %I.open_alerts',
	    target, target);
	EXECUTE format('DROP VIEW IF EXISTS %I.entities, %I.alerts', target,
	    target);
	EXECUTE format('CREATE VIEW %I.entities AS %s', target, ents);
	EXECUTE format('CREATE VIEW %I.alerts AS %s', target, alts);
	EXECUTE format($v$CREATE VIEW %I.classes AS
	    SELECT e.district, e.kind, c.key AS rule, c.value AS class,
		count(*) AS entities
	    FROM %I.entities e, json_each_text(e.state::json -> 'classes') c
	    WHERE e.removed = 0
	    GROUP BY 1, 2, 3, 4$v$, target, target);
	EXECUTE format($v$CREATE VIEW %I.open_alerts AS
	    SELECT district, rule, severity, count(*) AS alerts,
		to_timestamp(min(ts)) AS oldest
	    FROM %I.alerts
	    WHERE acked = 0 AND silenced IS NULL
	    GROUP BY 1, 2, 3$v$, target, target);
	RETURN n;
END
$fn$;
