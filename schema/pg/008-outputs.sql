-- zhilid schema, version 8 (schema/008-outputs.sql in PostgreSQL's
-- dialect): where each alert output is.  key is the output's name;
-- last_id the id up to which it has delivered every unsilenced alert.
CREATE TABLE IF NOT EXISTS output_positions (
	key	text PRIMARY KEY,
	last_id	bigint NOT NULL
);
