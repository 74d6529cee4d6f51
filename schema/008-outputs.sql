-- zhilid schema, version 8: where each alert output (zhilid.conf outputs:)
-- is.  key is the output's name (its `name:`, else its type and target);
-- last_id the id up to which it has delivered every unsilenced alert.  The
-- daemon writes it through its writer, like everything else, after the
-- output has taken the alerts: after a kill -9 an output repeats at most
-- the alerts after last_id and loses none.  At start the rows of outputs
-- no longer configured are removed, so that an output added again starts
-- from the alerts raised from then on.  (IF NOT EXISTS: a test that takes
-- a database back to an older schema by hand leaves the table.)
CREATE TABLE IF NOT EXISTS output_positions (
	key	TEXT PRIMARY KEY,
	last_id	INTEGER NOT NULL
) WITHOUT ROWID;
