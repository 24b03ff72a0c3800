package sqlscope

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	pg_query "github.com/pganalyze/pg_query_go/v5"
	"github.com/pganalyze/pg_query_go/v5/parser"
	"google.golang.org/protobuf/proto"
)

// fastParseEdges probe where the JSON and protobuf outputs of libpg_query
// differ or might: integers that are zero or negative, array bounds, typmods,
// constants the grammar makes up, strings needing escapes or not UTF-8, NUL
// bytes, and statements of many kinds, so that most node types, char fields
// and enums appear at least once.
var fastParseEdges = []string{
	"", ";", "-- only a comment", "SELECT", "SELECT 1; SELECT 2",
	"SELECT 0", "SELECT -0", "SELECT - 0", "SELECT -1", "SELECT - 1", "SELECT +0", "SELECT + 1",
	"SELECT 00", "SELECT 0x0", "SELECT 0X00", "SELECT 0b0", "SELECT 0o0", "SELECT 0_0", "SELECT 1_000",
	"SELECT 0.0", "SELECT -0.5", "SELECT .5", "SELECT 1e0", "SELECT -1e-3", "SELECT 2147483647", "SELECT 2147483648",
	"SELECT -2147483648", "SELECT -2147483649", "SELECT 9223372036854775808", "SELECT - - 1", "SELECT -(-1)", "SELECT -(0)",
	"SELECT (0)", "SELECT ((-1))", "SELECT 1 - 0", "SELECT 1-0", "SELECT 0-1", "SELECT -x FROM t",
	"SELECT 1 LIMIT 0 OFFSET 0", "SELECT 1 LIMIT -1", "SELECT 1 FETCH FIRST ROW ONLY", "SELECT 1 FETCH FIRST 0 ROWS ONLY",
	"SELECT 1 FETCH FIRST -1 ROWS ONLY", "SELECT 1 OFFSET 0 ROWS FETCH NEXT 1 ROW WITH TIES", "SELECT 1 LIMIT ALL",
	"SELECT '{}'::int[]", "SELECT '{}'::int[3]", "SELECT '{}'::int[0]", "SELECT '{}'::int[][]", "SELECT '{}'::int ARRAY",
	"SELECT '{}'::int ARRAY[0]", "SELECT '{}'::int ARRAY[2]", "SELECT CAST(NULL AS text[])", "SELECT ARRAY[]::int[]",
	"SELECT 1::numeric(10,0)", "SELECT 1::numeric(0)", "SELECT 1::numeric(-1, 0)", "SELECT 'a'::varchar(0)", "SELECT 'a'::char",
	"SELECT 'a'::bit varying", "SELECT 1::float(0)", "SELECT 1::float", "SELECT 1::double precision",
	"SELECT interval '1' day", "SELECT interval(0) '1'", "SELECT '1'::interval second(0)", "SELECT '1'::interval day to second(0)",
	"SELECT '1'::interval year to month", "SELECT interval '1' hour to minute", "SELECT '1'::timestamp(0) with time zone",
	"SELECT current_time(0)", "SELECT localtimestamp(0)", "SELECT current_timestamp(-1)",
	"SELECT substring('abc' from 0 for 1)", "SELECT substring('abc' for 0)", "SELECT overlay('abc' placing 'x' from 0 for 0)",
	"SELECT xmlroot(xmlparse(document '<a/>'), version '1.0', standalone yes)",
	"SELECT xmlroot('<a/>', version no value, standalone no)", "SELECT xmlroot('<a/>', version '1', standalone no value)",
	"SELECT xmlelement(name a, xmlattributes(1 as b), 'c')", "SELECT xmlserialize(content '<a/>' AS text indent)",
	"SELECT '<a>' IS DOCUMENT", "SELECT xmlpi(name php, 'x')", "SELECT xmlexists('//a' PASSING '<a/>')",
	"SELECT 1 IS JSON", "SELECT '{}' IS JSON OBJECT WITH UNIQUE KEYS", "SELECT json_object('a': 1 ABSENT ON NULL)",
	"SELECT json_array(1, 2 RETURNING jsonb)", "SELECT json_arrayagg(x ORDER BY x NULL ON NULL) FROM t",
	"SELECT json_objectagg(k VALUE v) FROM t", "SELECT '1'::json FORMAT JSON",
	"SET TRANSACTION READ WRITE", "SET TRANSACTION READ ONLY, ISOLATION LEVEL SERIALIZABLE, NOT DEFERRABLE",
	"BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE DEFERRABLE", "START TRANSACTION READ ONLY", "COMMIT AND CHAIN",
	"SET x = -5", "SET x = 0", "SET x = +0", "SET x = -0.5", "SET x TO DEFAULT", "SET LOCAL search_path = public, pg_temp",
	"SET TIME ZONE INTERVAL '-08:00' HOUR TO MINUTE", "SET TIME ZONE -7", "SET TIME ZONE 0", "RESET ALL", "SHOW x",
	"ALTER SEQUENCE s INCREMENT BY -1", "CREATE SEQUENCE s START 0 MINVALUE -10 MAXVALUE 0 CACHE 1 NO CYCLE",
	"ALTER ROLE r CONNECTION LIMIT -1", "ALTER ROLE r CONNECTION LIMIT 0", "CREATE ROLE r SYSID 0",
	"SELECT E'a\\nb\\tc\\rd\\be\\ff'", "SELECT E'\\x01\\x1f\\x7f'", "SELECT '<>\"\\'", "SELECT '/'", "SELECT 'ü日本😀'",
	"SELECT E'\\xff'", "SELECT E'\\xc3'", "SELECT E'\\x00'", "SELECT U&'\\0000'", "SELECT U&'\\d800'",
	"SELECT \"\\\"", "SELECT \"a\"\"b\"", "SELECT U&\"d\\0061t\\+000061\"", "SELECT $$x\"y\\z$$", "SELECT $q$\n\t$q$",
	"SELECT 'a' 'b'", "SELECT 'a'\n'b'", "SELECT B'1010', X'ff', b'', x''", "SELECT E'\\u00e9', E'\\U0001F600'",
	"SELECT 1\x00; DROP TABLE x", "\x00", "SELECT '\x00'", "SELECT 1 /* \x00 */",
	"SELECT $1, $2, $0", "SELECT true, false, NULL, TRUE::bool, 'f'::boolean", "SELECT 1 WHERE NOT false",
	"SELECT * FROM t AS x(a, b) TABLESAMPLE SYSTEM (0) REPEATABLE (-1)", "SELECT * FROM ONLY t", "SELECT * FROM t*",
	"SELECT a FROM t GROUP BY DISTINCT ROLLUP (a), CUBE (b), GROUPING SETS ((), (a, b))",
	"SELECT a, b FROM t WINDOW w AS (PARTITION BY a ORDER BY b RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW EXCLUDE TIES)",
	"SELECT sum(a) OVER (ROWS BETWEEN 0 PRECEDING AND 0 FOLLOWING) FROM t",
	"SELECT sum(a) OVER (GROUPS BETWEEN 1 PRECEDING AND UNBOUNDED FOLLOWING EXCLUDE GROUP) FROM t",
	"SELECT a FROM t ORDER BY a ASC NULLS FIRST, b DESC NULLS LAST, c USING >",
	"SELECT a FROM t FOR UPDATE OF t NOWAIT", "SELECT a FROM t FOR NO KEY UPDATE SKIP LOCKED", "SELECT a FROM t FOR KEY SHARE",
	"SELECT * INTO TEMP x FROM t", "SELECT * INTO UNLOGGED x FROM t", "CREATE TABLE x AS SELECT 1 WITH NO DATA",
	"WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM r) SEARCH DEPTH FIRST BY n SET o CYCLE n SET c USING p SELECT * FROM r",
	"WITH x AS MATERIALIZED (SELECT 1), y AS NOT MATERIALIZED (SELECT 2) SELECT * FROM x, y",
	"SELECT a FROM t1 NATURAL FULL JOIN t2 RIGHT JOIN t3 USING (a) AS j LEFT JOIN t4 ON true CROSS JOIN t5",
	"SELECT * FROM ROWS FROM (generate_series(1, 2), unnest(ARRAY[1])) WITH ORDINALITY AS z(a, b, c)",
	"SELECT * FROM XMLTABLE('/r' PASSING '<r/>' COLUMNS a int PATH 'a', b FOR ORDINALITY)",
	"SELECT a IS NOT DISTINCT FROM b, a IS TRUE, a IS NOT UNKNOWN, a ISNULL, a NOTNULL, a IS NOT NULL FROM t",
	"SELECT a BETWEEN SYMMETRIC 1 AND 2, a NOT BETWEEN 0 AND -1, a NOT IN (1), a <> ALL (ARRAY[0]), a = SOME (SELECT 1) FROM t",
	"SELECT a LIKE 'x' ESCAPE '', a NOT ILIKE 'y', a SIMILAR TO 'z', a NOT SIMILAR TO 'w' ESCAPE '#' FROM t",
	"SELECT a OPERATOR(pg_catalog.+) 1, @ -1, |/ 4, 1 ! FROM t", "SELECT ARRAY(SELECT 1), EXISTS (SELECT 1), (SELECT 1)",
	"SELECT (a).b, (a).*, a[1], a[:2], a[0:], a[-1][-2] FROM t", "SELECT ROW(), ROW(1), (1, 2)", "SELECT a COLLATE \"C\" FROM t",
	"SELECT CASE a WHEN 0 THEN -1 ELSE 0 END, CASE WHEN true THEN 1 END FROM t", "SELECT coalesce(0, -0), nullif(0, 0), greatest(0), least(-1)",
	"SELECT current_date, current_role, current_user, user, session_user, current_catalog, current_schema, localtime",
	"SELECT extract(epoch FROM now()), extract('0' FROM now()), position('a' IN 'b'), trim(leading FROM 'x'), normalize('a', nfkc)",
	"SELECT count(*), count(DISTINCT a), count(ALL a), string_agg(a, ',' ORDER BY a), percentile_disc(0) WITHIN GROUP (ORDER BY a) FROM t",
	"SELECT f(a => 1, b := 2, VARIADIC ARRAY[0])", "SELECT grouping(a, b) FROM t GROUP BY a, b", "SELECT a AT TIME ZONE 'UTC' FROM t",
	"SELECT 'a' || 'b' COLLATE \"C\", 1 + -1 * 0 / 1 % 2 ^ 0", "SELECT DISTINCT ON (a) a FROM t", "VALUES (0), (-1), (DEFAULT)",
	"TABLE t", "SELECT * FROM t WHERE CURRENT OF c", "SELECT 1 UNION SELECT 2 INTERSECT ALL SELECT 3 EXCEPT DISTINCT SELECT 4",
	"INSERT INTO t (a, b[1], c.d) OVERRIDING SYSTEM VALUE VALUES (0, -1, DEFAULT) ON CONFLICT ON CONSTRAINT k DO NOTHING RETURNING *",
	"INSERT INTO t AS x VALUES (1) ON CONFLICT (a COLLATE \"C\" text_ops, (lower(b))) WHERE a > 0 DO UPDATE SET (a, b) = ROW(1, 2), c = DEFAULT",
	"INSERT INTO t OVERRIDING USER VALUE SELECT 1", "INSERT INTO t DEFAULT VALUES",
	"UPDATE ONLY t AS x SET a = 0, (b, c) = (SELECT 1, 2) FROM u WHERE CURRENT OF cur RETURNING x.*",
	"DELETE FROM ONLY t USING u WHERE t.a = u.a RETURNING 0",
	"MERGE INTO t USING s ON t.a = s.a WHEN MATCHED AND s.b < 0 THEN DELETE WHEN NOT MATCHED THEN INSERT DEFAULT VALUES WHEN MATCHED THEN DO NOTHING",
	"MERGE INTO t USING s ON true WHEN NOT MATCHED THEN INSERT (a) OVERRIDING SYSTEM VALUE VALUES (0)",
	"CREATE TABLE t (a int PRIMARY KEY, b text NOT NULL DEFAULT '' COLLATE \"C\" CHECK (b <> ''), c int REFERENCES u (x) MATCH FULL ON DELETE SET NULL (c) ON UPDATE CASCADE DEFERRABLE INITIALLY DEFERRED, d int GENERATED ALWAYS AS (a * 2) STORED, e int GENERATED BY DEFAULT AS IDENTITY (START WITH 0 INCREMENT BY -1), f int[] , g int ARRAY[0], UNIQUE NULLS NOT DISTINCT (a, b) INCLUDE (c) WITH (fillfactor = 70), EXCLUDE USING gist (a WITH =) WHERE (a > 0)) PARTITION BY RANGE (a)",
	"CREATE TEMP TABLE t (a int) ON COMMIT DROP", "CREATE UNLOGGED TABLE IF NOT EXISTS t (LIKE u INCLUDING ALL EXCLUDING INDEXES)",
	"CREATE TABLE p1 PARTITION OF p FOR VALUES FROM (MINVALUE) TO (0)", "CREATE TABLE p2 PARTITION OF p FOR VALUES WITH (MODULUS 4, REMAINDER 0)",
	"CREATE TABLE t (a int STORAGE PLAIN COMPRESSION pglz) INHERITS (u) TABLESPACE x", "CREATE TABLE t OF typ (a WITH OPTIONS NOT NULL)",
	"CREATE FOREIGN TABLE ft (a int OPTIONS (column_name 'b')) SERVER s OPTIONS (table_name 't')",
	"ALTER TABLE t ADD COLUMN x int, DROP COLUMN y CASCADE, ALTER COLUMN z TYPE bigint USING z::bigint, ALTER COLUMN z SET STATISTICS -1, ALTER COLUMN z SET STATISTICS 0",
	"ALTER TABLE t ALTER COLUMN a ADD GENERATED ALWAYS AS IDENTITY, REPLICA IDENTITY FULL, SET LOGGED, CLUSTER ON i, ENABLE ROW LEVEL SECURITY",
	"ALTER TABLE t ADD CONSTRAINT k FOREIGN KEY (a) REFERENCES u NOT VALID, VALIDATE CONSTRAINT k, ALTER CONSTRAINT k DEFERRABLE",
	"ALTER TABLE t REPLICA IDENTITY USING INDEX i", "ALTER TABLE t REPLICA IDENTITY NOTHING", "ALTER TABLE t ALTER a SET STORAGE EXTERNAL",
	"CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS i ON t USING btree (a DESC NULLS LAST, (lower(b)) text_pattern_ops) INCLUDE (c) WHERE a > 0",
	"CREATE VIEW v WITH (security_barrier) AS SELECT 1 WITH CASCADED CHECK OPTION", "CREATE OR REPLACE TEMP RECURSIVE VIEW v (n) AS SELECT 1",
	"CREATE MATERIALIZED VIEW m AS SELECT 1 WITH DATA", "REFRESH MATERIALIZED VIEW CONCURRENTLY m",
	"CREATE FUNCTION f(a int DEFAULT 0, OUT b int, VARIADIC c int[]) RETURNS SETOF int LANGUAGE sql IMMUTABLE STRICT SECURITY DEFINER COST 0 ROWS 1 SET search_path = '' AS 'SELECT 1'",
	"CREATE PROCEDURE p() BEGIN ATOMIC SELECT 1; END", "CALL p(0, -1)", "DO $$BEGIN NULL; END$$", "DO LANGUAGE plpgsql 'x'",
	"CREATE AGGREGATE a (int) (sfunc = f, stype = int, initcond = '0')", "CREATE AGGREGATE a (ORDER BY int) (sfunc = f, stype = int)",
	"CREATE AGGREGATE a (int ORDER BY int) (sfunc = f, stype = int)", "DROP AGGREGATE a (int)", "DROP AGGREGATE a (*)",
	"DROP FUNCTION f(int, text), g", "DROP TABLE IF EXISTS a, b CASCADE", "DROP INDEX CONCURRENTLY i", "TRUNCATE t RESTART IDENTITY",
	"CREATE TRIGGER tr BEFORE INSERT OR UPDATE OF a ON t REFERENCING NEW TABLE AS n FOR EACH ROW WHEN (NEW.a > 0) EXECUTE FUNCTION f()",
	"CREATE CONSTRAINT TRIGGER tr AFTER DELETE OR TRUNCATE ON t DEFERRABLE FOR EACH ROW EXECUTE PROCEDURE f(0)",
	"CREATE EVENT TRIGGER e ON ddl_command_start WHEN TAG IN ('CREATE TABLE') EXECUTE FUNCTION f()",
	"CREATE POLICY p ON t AS RESTRICTIVE FOR SELECT TO PUBLIC USING (a = current_user) WITH CHECK (true)",
	"CREATE RULE r AS ON INSERT TO t DO INSTEAD NOTHING", "CREATE RULE r AS ON UPDATE TO t WHERE NEW.a <> 0 DO ALSO (NOTIFY c; SELECT 1)",
	"GRANT SELECT (a), UPDATE ON t TO r WITH GRANT OPTION", "REVOKE ALL ON ALL TABLES IN SCHEMA s FROM PUBLIC CASCADE",
	"GRANT r TO u WITH ADMIN OPTION GRANTED BY CURRENT_USER", "ALTER DEFAULT PRIVILEGES IN SCHEMA s GRANT SELECT ON TABLES TO r",
	"CREATE ROLE r WITH LOGIN PASSWORD 'x' VALID UNTIL 'infinity' IN ROLE a", "ALTER USER r SET search_path = DEFAULT", "DROP OWNED BY r",
	"CREATE SCHEMA IF NOT EXISTS s AUTHORIZATION r CREATE TABLE t (a int)", "ALTER SCHEMA s RENAME TO u", "ALTER TABLE t OWNER TO CURRENT_ROLE",
	"CREATE TYPE e AS ENUM ('a', 'b')", "ALTER TYPE e ADD VALUE IF NOT EXISTS 'c' BEFORE 'a'", "CREATE TYPE c AS (a int, b text[])",
	"CREATE TYPE r AS RANGE (subtype = int)", "CREATE DOMAIN d AS int CONSTRAINT k CHECK (VALUE >= 0) NOT NULL DEFAULT 0",
	"CREATE EXTENSION IF NOT EXISTS x WITH SCHEMA s VERSION '1' CASCADE", "CREATE SERVER s FOREIGN DATA WRAPPER w OPTIONS (host 'h')",
	"CREATE USER MAPPING FOR CURRENT_USER SERVER s OPTIONS (user 'u')", "IMPORT FOREIGN SCHEMA r LIMIT TO (t) FROM SERVER s INTO l",
	"CREATE PUBLICATION p FOR TABLE t (a) WHERE (a > 0), TABLES IN SCHEMA s", "CREATE SUBSCRIPTION s CONNECTION 'c' PUBLICATION p WITH (enabled = false)",
	"CREATE STATISTICS s (ndistinct, dependencies) ON a, (b + 0) FROM t", "CREATE COLLATION c (provider = icu, locale = 'und')",
	"CREATE CAST (int AS text) WITH FUNCTION f(int) AS IMPLICIT", "CREATE OPERATOR === (leftarg = int, rightarg = int, function = f)",
	"CREATE OPERATOR CLASS c DEFAULT FOR TYPE int USING btree AS OPERATOR 1 <, FUNCTION 1 f(int, int)",
	"CREATE TEXT SEARCH CONFIGURATION c (copy = english)", "CREATE CONVERSION c FOR 'LATIN1' TO 'UTF8' FROM f",
	"CREATE TRANSFORM FOR int LANGUAGE sql (FROM SQL WITH FUNCTION f(internal))", "CREATE ACCESS METHOD m TYPE TABLE HANDLER h",
	"CREATE TABLESPACE ts LOCATION '/x'", "CREATE DATABASE d WITH OWNER r ENCODING 'UTF8' CONNECTION LIMIT -1", "DROP DATABASE d WITH (FORCE)",
	"ALTER DATABASE d SET x = 0", "ALTER SYSTEM SET x = 1", "CREATE LANGUAGE l", "COMMENT ON TABLE t IS 'x'", "COMMENT ON COLUMN t.a IS NULL",
	"SECURITY LABEL ON TABLE t IS 'x'", "ALTER TABLE t RENAME COLUMN a TO b", "ALTER INDEX i ATTACH PARTITION j", "ALTER TABLE t DETACH PARTITION p CONCURRENTLY",
	"ALTER FUNCTION f(int) STRICT", "ALTER FUNCTION f DEPENDS ON EXTENSION e", "ALTER OPERATOR + (int, int) SET (restrict = r)",
	"CLUSTER t USING i", "VACUUM (VERBOSE, ANALYZE) t (a)", "VACUUM FULL FREEZE", "ANALYZE t", "REINDEX (CONCURRENTLY) TABLE t", "CHECKPOINT",
	"LOCK TABLE t IN ACCESS EXCLUSIVE MODE NOWAIT", "PREPARE q (int) AS SELECT $1", "EXECUTE q (0)", "DEALLOCATE ALL",
	"DECLARE c BINARY INSENSITIVE NO SCROLL CURSOR WITH HOLD FOR SELECT 1", "FETCH BACKWARD 0 FROM c", "FETCH -1 FROM c", "FETCH ABSOLUTE -2 c",
	"FETCH ALL c", "FETCH FORWARD ALL c", "MOVE LAST IN c", "MOVE RELATIVE 0 c", "CLOSE ALL", "CLOSE c",
	"EXPLAIN (ANALYZE, BUFFERS false, FORMAT json) DELETE FROM t", "EXPLAIN VERBOSE SELECT 1", "COPY t (a) FROM STDIN WITH (FORMAT csv, HEADER)",
	"COPY (SELECT 1) TO STDOUT", "COPY t TO PROGRAM 'x'", "LISTEN c", "NOTIFY c, 'x'", "UNLISTEN *", "LOAD 'x'", "DISCARD ALL",
	"SAVEPOINT s", "RELEASE SAVEPOINT s", "ROLLBACK TO SAVEPOINT s", "PREPARE TRANSACTION 'x'", "COMMIT PREPARED 'x'", "ABORT",
	"SET ROLE NONE", "SET SESSION AUTHORIZATION DEFAULT", "SET CONSTRAINTS ALL DEFERRED", "REASSIGN OWNED BY a TO b",
	"ALTER TABLE t SET (fillfactor = 0), RESET (autovacuum_enabled)", "ALTER TABLE t ALTER a SET (n_distinct = -1)",
	"CREATE TABLE t (a int) WITH (fillfactor = -0)", "SELECT f(0 => 1)", "SELECT a[0] FROM t", "SELECT (1 + 0)::int[]",
	// Statements written inline in the package's other tests.
	"SELECT c.name, sum(o.total) FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.name",
	"WITH orders AS (SELECT 1 AS x) SELECT x FROM orders",
	"UPDATE orders SET status = 'x' FROM customers c WHERE c.id = orders.customer_id RETURNING orders.id",
	"INSERT INTO customers (name, region) VALUES (lower('X'), 'eu')", "SELECT * FROM orders", "SELECT ssn FROM customers",
	"SELECT id FROM orders", "SELECT * FROM secrets", "SELECT lower(name) FROM customers", "SELECT 4095", "SELECT '" + strings.Repeat("x", 1000) + "' AS c7",
	"SELECT (SELECT email FROM products LIMIT 1) FROM customers", "SELECT (SELECT email FROM users AS u(a, b) LIMIT 1) FROM customers",
	"SELECT c.region, sum(o.total) FROM orders o JOIN customers c ON c.id = o.customer_id GROUP BY 1",
	"WITH d AS (DELETE FROM orders RETURNING *) SELECT * FROM d", "SELECT pg_read_file('/etc/passwd')",
}

// fastParseCorpus is every SQL text of the package's tests.
func fastParseCorpus(t testing.TB) []string {
	var all []string
	for _, rw := range adversarial {
		all = append(all, rw.sql)
	}
	all = append(all, analystQueries...)
	for _, rw := range allowedEdges {
		all = append(all, rw.sql)
	}
	all = append(all, typicalQuery, query2KB, testSchema)
	all = append(all, fastParseEdges...)
	seeds, err := filepath.Glob("testdata/fuzz/FuzzCheck/*")
	if err != nil {
		t.Fatal(err)
	}
	if len(seeds) == 0 {
		t.Fatal("no FuzzCheck seeds")
	}
	for _, p := range seeds {
		all = append(all, readFuzzSeed(t, p))
	}
	return all
}

// readFuzzSeed reads a seed file holding one string argument.
func readFuzzSeed(t testing.TB, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	header, body, ok := strings.Cut(string(b), "\n")
	body = strings.TrimSpace(body)
	if !ok || header != "go test fuzz v1" || !strings.HasPrefix(body, "string(") || !strings.HasSuffix(body, ")") {
		t.Fatalf("%s: not a single-string fuzz seed", path)
	}
	s, err := strconv.Unquote(body[len("string(") : len(body)-1])
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return s
}

// compareParse checks parseFast against pg_query.Parse. It reports
// whether parseFast declined the text (and the caller would fall back).
func compareParse(t *testing.T, sql string) (declined bool) {
	t.Helper()
	want, werr := pg_query.Parse(sql)
	got, gerr := parseFast(sql)
	var wpe, gpe *parser.Error
	switch {
	case errors.As(werr, &wpe):
		if !reflect.DeepEqual(werr, gerr) {
			t.Fatalf("%q: pg_query.Parse fails with %#v, parseFast with %#v", sql, werr, gerr)
		}
	case werr != nil:
		// The tree does not unmarshal (a string not UTF-8, too deep).
		if gerr == nil {
			t.Fatalf("%q: pg_query.Parse fails with %v, parseFast succeeds", sql, werr)
		}
		if errors.As(gerr, &gpe) {
			t.Fatalf("%q: pg_query.Parse fails with %v, parseFast reports a syntax error %v", sql, werr, gerr)
		}
	case gerr != nil:
		if errors.As(gerr, &gpe) {
			t.Fatalf("%q: parseFast reports a syntax error %v that pg_query.Parse does not", sql, gerr)
		}
		return true
	case !proto.Equal(want, got):
		t.Fatalf("%q: trees differ\n pg_query.Parse: %v\n parseFast:      %v", sql, want, got)
	}
	return false
}

func TestParseFastMatchesParse(t *testing.T) {
	corpus := fastParseCorpus(t)
	if len(corpus) < 500 {
		t.Fatalf("corpus holds %d texts; want at least 500", len(corpus))
	}
	declined := 0
	for _, sql := range corpus {
		if compareParse(t, sql) {
			declined++
		}
	}
	t.Logf("%d texts, %d declined", len(corpus), declined)
}

// TestParseFastNotDeclined: the statements keyhole sees daily take the fast
// path. This also fails if a new pg_query_go changes the JSON format.
func TestParseFastNotDeclined(t *testing.T) {
	for _, sql := range []string{typicalQuery, query2KB, "SELECT 0", "SELECT x FROM t LIMIT 10 OFFSET 0", "SELECT 1::numeric(10, 0)"} {
		if _, err := parseFast(sql); err != nil {
			t.Errorf("%q: %v", short(sql), err)
		}
	}
	// A negative integer or an array type is declined by design.
	declined := 0
	for _, sql := range analystQueries {
		if _, err := parseFast(sql); err != nil {
			declined++
			t.Logf("declined: %q: %v", short(sql), err)
		}
	}
	if declined > len(analystQueries)/10 {
		t.Errorf("%d of %d analyst queries declined", declined, len(analystQueries))
	}
}

// TestParseFastDeclines pins what parseFast must refuse rather than guess.
func TestParseFastDeclines(t *testing.T) {
	for _, sql := range []string{
		"SELECT -1",          // {"ival":{}} at a minus sign
		"SELECT -0",          // the same JSON as -1
		"SELECT '{}'::int[]", // array bound -1, written as {"Integer":{}}
		"SELECT '{}'::int[0]",
		"SELECT xmlroot('<a/>', version '1', standalone yes)", // made-up 0 at location -1
		"SELECT E'\\xff'", // not UTF-8
	} {
		if _, err := parseFast(sql); err == nil {
			t.Errorf("%q: parseFast succeeded", sql)
		}
	}
}

// TestParseFastRejectsJSON feeds the decoder JSON that libpg_query does not
// write: every oddity must be an error, never a silently different tree.
func TestParseFastRejectsJSON(t *testing.T) {
	tb, err := loadTables()
	if err != nil {
		t.Fatal(err)
	}
	decode := func(js, src string) error {
		d := decoder{js: js, src: src}
		tree := &pg_query.ParseResult{}
		if err := d.message(unsafe.Pointer(tree), tb.result); err != nil {
			return err
		}
		if d.pos != len(js) {
			return errSyntax
		}
		return nil
	}
	stmt := func(node string) string {
		return `{"version":160001,"stmts":[{"stmt":{"SelectStmt":{"targetList":[{"ResTarget":{"val":` + node + `,"location":7}}],"limitOption":"LIMIT_OPTION_DEFAULT","op":"SETOP_NONE"}}}]}`
	}
	good := stmt(`{"A_Const":{"ival":{"ival":5},"location":7}}`)
	if err := decode(good, "SELECT 5"); err != nil {
		t.Fatalf("well-formed JSON refused: %v", err)
	}
	if err := decode(stmt(`{"A_Const":{"ival":{},"location":7}}`), "SELECT 0"); err != nil {
		t.Fatalf("zero refused: %v", err)
	}
	for _, js := range []string{
		stmt(`{"A_Const":{"ival":{},"location":7}}`),                             // at "-"
		stmt(`{"A_Const":{"ival":{},"location":-1}}`),                            // made up
		stmt(`{"A_Const":{"ival":{},"location":99}}`),                            // outside the text
		stmt(`{"Integer":{}}`),                                                   // zero or negative
		stmt(`{"A_Const":{"ival":{"ival":5},"sval":{"sval":"x"},"location":7}}`), // two oneof members
		stmt(`{"A_Const":{"ival":{"ival":5},"location":7,"location":8}}`),        // duplicate key
		stmt(`{"A_Const":{"ival":{"ival":5},"location":7,"unknown":1}}`),         // unknown key
		stmt(`{"A_Const":{"ival":{"ival":5},"location":"7"}}`),                   // wrong kind of value
		stmt(`{"A_Const":{"ival":{"ival":5.0},"location":7}}`),
		stmt(`{"A_Const":{"ival":{"ival":05},"location":7}}`),
		stmt(`{"A_Const":{"ival":{"ival":5e0},"location":7}}`),
		stmt(`{"A_Const":{"ival":{"ival":2147483648},"location":7}}`),
		stmt(`{"A_Const":{"ival":{"ival":-0},"location":7}}`),
		stmt(`{"A_Const":{"ival":{"ival":null},"location":7}}`),
		stmt(`{"A_Const":{"sval":{"sval":null},"location":7}}`),
		stmt(`{"A_Const":{"sval":{"sval":"\u00e9"},"location":7}}`), // libpg_query writes UTF-8 raw
		stmt(`{"A_Const":{"sval":{"sval":"\/"},"location":7}}`),
		stmt(`{"A_Const":{"sval":{"sval":"a` + "\x01" + `"},"location":7}}`),
		stmt(`{"A_Const":{"sval":{"sval":"` + "\xff" + `"},"location":7}}`),
		stmt(`{"A_Const":{"isnull":1,"location":7}}`),
		stmt(`{"A_Const":{"isnull":tru,"location":7}}`),
		stmt(`{"NoSuchNode":{}}`),
		stmt(`{"A_Const":{"location":7},"String":{"sval":"x"}}`), // two node types
		stmt(`{"IntList":{"items":[1,2]}}`),                      // bare numbers
		stmt(`[]`),
		stmt(`null`),
		stmt(`{"A_Const":{"location":7} }`), // whitespace
		strings.Replace(good, "SETOP_NONE", "SETOP_NOTHING", 1),
		strings.Replace(good, `"version":160001`, `"version":1.6e5`, 1),
		good + " ",
		good + "{}",
		good[:len(good)-1],
	} {
		if err := decode(js, "SELECT -5"); err == nil {
			t.Errorf("accepted %s", js)
		}
	}
}

// TestParseFastDepth: parseFast fails exactly where proto.Unmarshal stops.
func TestParseFastDepth(t *testing.T) {
	// Each "+1" nests an A_Expr inside a Node: two messages.
	lo, hi := 4000, 6000
	for _, n := range []int{lo, hi} {
		sql := "SELECT 1" + strings.Repeat("+1", n)
		_, werr := pg_query.Parse(sql)
		if (werr != nil) != (n == hi) {
			t.Fatalf("depth %d: pg_query.Parse error %v; pick other bounds", n, werr)
		}
	}
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if _, err := pg_query.Parse("SELECT 1" + strings.Repeat("+1", mid)); err != nil {
			hi = mid
		} else {
			lo = mid
		}
	}
	for _, n := range []int{lo - 1, lo, hi, hi + 1} {
		compareParse(t, "SELECT 1"+strings.Repeat("+1", n))
	}
	if _, err := parseFast("SELECT 1" + strings.Repeat("+1", lo)); err != nil {
		t.Fatalf("%d terms: %v", lo, err)
	}
	if _, err := parseFast("SELECT 1" + strings.Repeat("+1", hi)); err == nil {
		t.Fatalf("%d terms parsed; pg_query.Parse refuses them", hi)
	}
}

func FuzzParseFast(f *testing.F) {
	for _, sql := range fastParseCorpus(f) {
		if len(sql) < 2000 { // the long ones are TestParseFastMatchesParse's
			f.Add(sql)
		}
	}
	f.Fuzz(func(t *testing.T, sql string) {
		compareParse(t, sql)
	})
}

func BenchmarkParseProtobuf(b *testing.B) {
	for _, q := range []struct{ name, sql string }{{"typical", typicalQuery}, {"2KB", query2KB}} {
		b.Run(q.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := pg_query.Parse(q.sql); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkParseFast(b *testing.B) {
	for _, q := range []struct{ name, sql string }{{"typical", typicalQuery}, {"2KB", query2KB}} {
		b.Run(q.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := parseFast(q.sql); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkParseJSONOnly(b *testing.B) {
	for _, q := range []struct{ name, sql string }{{"typical", typicalQuery}, {"2KB", query2KB}} {
		b.Run(q.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := pg_query.ParseToJSON(q.sql); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeJSON measures parseFast's decoder alone, without the parse.
func BenchmarkDecodeJSON(b *testing.B) {
	tb, err := loadTables()
	if err != nil {
		b.Fatal(err)
	}
	for _, q := range []struct{ name, sql string }{{"typical", typicalQuery}, {"2KB", query2KB}} {
		js, err := pg_query.ParseToJSON(q.sql)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(q.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				d := decoder{js: js, src: q.sql}
				if err := d.message(unsafe.Pointer(&pg_query.ParseResult{}), tb.result); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
