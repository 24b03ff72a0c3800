package pgexec

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/keyholehq/keyhole/config"
	"github.com/keyholehq/keyhole/grants"
	"github.com/keyholehq/keyhole/internal/testdb"
)

var (
	dsn        string
	dbName     string
	testdbExec func(context.Context, string) error
)

func TestMain(m *testing.M) {
	os.Exit(testdb.Main(m, func(db *testdb.DB) {
		dsn, dbName, testdbExec = db.DSN, db.Name, db.Exec
		if err := db.Exec(context.Background(), `CREATE TABLE t (id int PRIMARY KEY, v text);
			INSERT INTO t SELECT g, repeat('x', 100) FROM generate_series(1, 50) g`); err != nil {
			panic(err)
		}
	}))
}

func resource() *config.Resource {
	return &config.Resource{Name: "r", DSN: config.NewSecret(dsn), SearchPath: []string{"public"},
		Limits: config.Limits{MaxRows: 100, MaxResultBytes: 1 << 20, StatementTimeout: 2 * time.Second}}
}

func TestValuesAreJSONTyped(t *testing.T) {
	e := New()
	defer e.Close()
	res, err := e.Run(context.Background(), resource(), Query{Privilege: grants.Read, MaxRows: 10, SQL: `SELECT
		1::int2, 2::int4, 9007199254740993::int8, 1.5::float8, 'NaN'::float8, 12345678901234567890.123::numeric,
		true, 'héllo'::text, '\xdeadbeef'::bytea, '2024-03-01 10:00:00+02'::timestamptz,
		'2024-03-01 10:00:00'::timestamp, '2024-03-01'::date, '{"a": [1, 2]}'::jsonb,
		ARRAY['a', 'b'], '7f7a3a8e-4c9b-4e0e-8a7e-1c2d3e4f5a6b'::uuid, NULL::text, $1::int + 1`,
		Params: []any{json.Number("41")}})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(res.Rows[0])
	want := `[1,2,9007199254740993,1.5,"NaN",12345678901234567890.123,true,"héllo","3q2+7w==","2024-03-01T08:00:00Z",` +
		`"2024-03-01T10:00:00","2024-03-01",{"a":[1,2]},["a","b"],"7f7a3a8e-4c9b-4e0e-8a7e-1c2d3e4f5a6b",null,42]`
	if string(got) != want {
		t.Errorf("row\n got %s\nwant %s", got, want)
	}
	if res.Columns[0].Type != "int2" || res.Columns[12].Type != "jsonb" {
		t.Errorf("column types: %v", res.Columns)
	}
}

func TestParamsAreNeverInterpolated(t *testing.T) {
	e := New()
	defer e.Close()
	res, err := e.Run(context.Background(), resource(), Query{Privilege: grants.Read, MaxRows: 10,
		SQL: "SELECT $1::text", Params: []any{"'; DROP TABLE t; --"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows[0][0] != "'; DROP TABLE t; --" {
		t.Errorf("got %v", res.Rows[0][0])
	}
}

func TestLimitsAndRefusals(t *testing.T) {
	e := New()
	defer e.Close()
	ctx := context.Background()
	res, err := e.Run(ctx, resource(), Query{Privilege: grants.Read, MaxRows: 7, SQL: "SELECT id FROM t ORDER BY id"})
	if err != nil || res.RowCount != 7 || !res.Truncated {
		t.Fatalf("max rows: %+v %v", res, err)
	}
	small := resource()
	small.Limits.MaxResultBytes = 500
	_, err = e.Run(ctx, small, Query{Privilege: grants.Read, MaxRows: 100, SQL: "SELECT v FROM t"})
	wantCode(t, err, grants.CodeResultTooLarge)

	_, err = e.Run(ctx, resource(), Query{Privilege: grants.Read, MaxRows: 10, SQL: "DELETE FROM t"})
	wantCode(t, err, grants.CodeWriteNotGranted)

	slow := resource()
	slow.Limits.StatementTimeout = 100 * time.Millisecond
	_, err = e.Run(ctx, slow, Query{Privilege: grants.Read, MaxRows: 10, SQL: "SELECT pg_sleep(5)"})
	wantCode(t, err, grants.CodeTimeout)

	_, err = e.Run(ctx, resource(), Query{Privilege: grants.Read, MaxRows: 10, SQL: "SELECT 1; SELECT 2"})
	if _, ok := grants.AsDenial(err); !ok {
		t.Errorf("two statements must be refused by the protocol too: %v", err)
	}
	// The session settings did not leak to the pooled connection.
	res, err = e.Run(ctx, resource(), Query{Privilege: grants.Read, MaxRows: 10, SQL: "SELECT current_setting('statement_timeout')"})
	if err != nil || res.Rows[0][0] != "2s" {
		t.Errorf("statement_timeout: %v %v", res, err)
	}

	var wrote *Result
	wrote, err = e.Run(ctx, resource(), Query{Privilege: grants.Write, MaxRows: 10, SQL: "UPDATE t SET v = 'y' WHERE id = 1 RETURNING id"})
	if err != nil || wrote.RowCount != 1 || wrote.Affected != 1 {
		t.Errorf("write: %+v %v", wrote, err)
	}
}

func TestUnreachableDatabaseIsUnavailable(t *testing.T) {
	e := New()
	defer e.Close()
	r := resource()
	r.DSN = config.NewSecret("postgres://u:hunter2@127.0.0.1:1/x?connect_timeout=2")
	_, err := e.Run(context.Background(), r, Query{Privilege: grants.Read, MaxRows: 1, SQL: "SELECT 1"})
	if err == nil || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("want ErrUnavailable, got %v", err)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error leaks the password: %v", err)
	}
}

func wantCode(t *testing.T, err error, code grants.Code) {
	t.Helper()
	d, ok := grants.AsDenial(err)
	if !ok || d.Code != code {
		t.Fatalf("want %s, got %v", code, err)
	}
}

// The statement is read as the SQL gate read it, whatever the database's or
// role's own standard_conforming_strings says.
func TestStandardConformingStringsIsForcedOn(t *testing.T) {
	ctx := context.Background()
	if err := testdbExec(ctx, "ALTER DATABASE "+dbName+" SET standard_conforming_strings = off"); err != nil {
		t.Fatal(err)
	}
	defer testdbExec(ctx, "ALTER DATABASE "+dbName+" RESET standard_conforming_strings")
	e := New()
	defer e.Close()
	res, err := e.Run(ctx, resource(), Query{Privilege: grants.Read, MaxRows: 1, SQL: `SELECT 'a\' AS v`})
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows[0][0] != `a\` {
		t.Errorf("got %q: the backslash was read as an escape", res.Rows[0][0])
	}
}
