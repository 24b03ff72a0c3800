package sqlscope

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/keyholehq/keyhole/grants"
	"github.com/keyholehq/keyhole/internal/testdb"
)

// testRoles creates one role per scope, holding exactly that scope's
// privileges, with names unique to this run (roles are cluster-wide), and
// drops them when the test ends.
func testRoles(t *testing.T, ctx context.Context, conn *pgx.Conn, dsn string) map[string]string {
	t.Helper()
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	suffix := hex.EncodeToString(b[:])
	roles := map[string]string{}
	for key, sc := range scopes {
		role := "kh_sqlscope_" + suffix + "_" + key
		var stmts []string
		stmts = append(stmts, "CREATE ROLE "+role+" NOLOGIN", "GRANT USAGE ON SCHEMA sales TO "+role)
		for _, ts := range sc.Tables {
			name := ts.Table.String()
			privs := []string{"SELECT"}
			if sc.Privilege == grants.Write {
				privs = append(privs, "INSERT", "UPDATE")
				if ts.Columns == nil {
					privs = append(privs, "DELETE")
				}
			}
			cols := ""
			if ts.Columns != nil {
				cols = " (" + strings.Join(ts.Columns, ", ") + ")"
			}
			for _, p := range privs {
				stmts = append(stmts, fmt.Sprintf("GRANT %s%s ON %s TO %s", p, cols, name, role))
			}
			if sc.Privilege == grants.Write {
				stmts = append(stmts, fmt.Sprintf(`DO $$ DECLARE s text; BEGIN
					SELECT pg_get_serial_sequence('%s', attname) INTO s FROM pg_attribute WHERE attrelid = '%s'::regclass AND attname = 'id';
					IF s IS NOT NULL THEN EXECUTE 'GRANT USAGE ON SEQUENCE ' || s || ' TO %s'; END IF; END $$`, name, name, role))
			}
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			c, err := pgx.Connect(ctx, dsn)
			if err != nil {
				t.Errorf("drop role %s: %v", role, err)
				return
			}
			defer c.Close(ctx)
			if _, err := c.Exec(ctx, "DROP OWNED BY "+role); err != nil {
				t.Errorf("drop owned by %s: %v", role, err)
			}
			if _, err := c.Exec(ctx, "DROP ROLE "+role); err != nil {
				t.Errorf("drop role %s: %v", role, err)
			}
		})
		for _, s := range stmts {
			if _, err := conn.Exec(ctx, s); err != nil {
				t.Fatalf("%s: %v", s, err)
			}
		}
		roles[key] = role
	}
	return roles
}

var paramRE = regexp.MustCompile(`\$(\d+)`)

// runAs runs sql as role inside a transaction that is READ ONLY for read
// scopes and always rolled back.
func runAs(ctx context.Context, conn *pgx.Conn, role string, readOnly bool, searchPath []string, sql string) error {
	begin := "BEGIN"
	if readOnly {
		begin = "BEGIN READ ONLY"
	}
	if _, err := conn.Exec(ctx, begin); err != nil {
		return err
	}
	defer conn.Exec(ctx, "ROLLBACK")
	setup := fmt.Sprintf("SET LOCAL ROLE %s; SET LOCAL search_path = %s; SET LOCAL statement_timeout = '5s'", role, strings.Join(searchPath, ", "))
	if _, err := conn.Exec(ctx, setup); err != nil {
		return err
	}
	var args []any
	if m := paramRE.FindAllStringSubmatch(sql, -1); m != nil {
		n := 0
		for _, g := range m {
			var i int
			fmt.Sscan(g[1], &i)
			n = max(n, i)
		}
		args = append(args, pgx.QueryExecModeSimpleProtocol)
		for i := 0; i < n; i++ {
			args = append(args, "1")
		}
	}
	rows, err := conn.Query(ctx, sql, args...)
	if err != nil {
		return err
	}
	for rows.Next() {
	}
	rows.Close()
	return rows.Err()
}

func sqlstate(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// TestDifferential runs every statement the gate allows as a role holding
// exactly the grant's privileges. A privilege error (42501) means gate and
// database disagree about the scope.
func TestDifferential(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	db := testdb.New(t)
	if err := db.Exec(ctx, testSchema); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, db.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	// The catalog fixture must match the schema it describes.
	for tb, cols := range testColumns {
		var got []string
		if err := conn.QueryRow(ctx, `SELECT array_agg(attname::text ORDER BY attnum) FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped`, tb.String()).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if strings.Join(got, ",") != strings.Join(cols, ",") {
			t.Fatalf("testColumns[%s] = %v, catalog has %v", tb, cols, got)
		}
	}
	roles := testRoles(t, ctx, conn, db.DSN)
	as := analyzers()
	// The second lock is real: the database refuses what the grant lacks.
	for _, q := range []string{"SELECT ssn FROM customers", "SELECT * FROM secrets", "SELECT * FROM customers"} {
		if err := runAs(ctx, conn, roles["read"], true, []string{"public"}, q); sqlstate(err) != "42501" {
			t.Fatalf("%s as the read role: got %v, want SQLSTATE 42501", q, err)
		}
	}

	type run struct {
		row
		mustSucceed bool
	}
	var runs []run
	for _, q := range analystQueries {
		runs = append(runs, run{row: r("", q), mustSucceed: true})
	}
	for _, rw := range allowedEdges {
		runs = append(runs, run{row: rw})
	}
	// Whatever the gate allows from the adversarial corpus (nothing, if the
	// corpus is right) must also pass the database.
	for _, rw := range adversarial {
		runs = append(runs, run{row: rw})
	}
	checked := 0
	for _, c := range runs {
		a := as[c.analyzer]
		sc := scopes[c.scope]
		if _, err := a.Check(c.sql, sc); err != nil {
			continue
		}
		checked++
		err := runAs(ctx, conn, roles[c.scope], sc.Privilege == grants.Read, a.opts.SearchPath, c.sql)
		switch {
		case sqlstate(err) == "42501":
			t.Errorf("gate allowed, database refused (42501) under %s: %s\n  %v", c.scope, short(c.sql), err)
		case err != nil && c.mustSucceed:
			t.Errorf("analyst query failed under %s: %s\n  %v", c.scope, short(c.sql), err)
		case err != nil && sqlstate(err) == "":
			t.Errorf("%s: %v", short(c.sql), err)
		}
	}
	t.Logf("%d allowed statements run against PostgreSQL", checked)
	if checked < len(analystQueries)+len(allowedEdges)-5 {
		t.Errorf("only %d statements checked against the database", checked)
	}
}

// TestAllowListsAgainstCatalog checks the allow-lists against a live server:
// every allowed function that exists there is immutable or stable in every
// overload (or reviewed as harmlessly volatile), every allowed type and
// operator exists in pg_catalog.
func TestAllowListsAgainstCatalog(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db := testdb.New(t)
	conn, err := pgx.Connect(ctx, db.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())

	rows, err := conn.Query(ctx, `SELECT proname, provolatile, prosecdef, prokind FROM pg_proc WHERE pronamespace = 'pg_catalog'::regnamespace`)
	if err != nil {
		t.Fatal(err)
	}
	exists := map[string]bool{}
	for rows.Next() {
		var name, vol, kind string
		var secdef bool
		if err := rows.Scan(&name, &vol, &secdef, &kind); err != nil {
			t.Fatal(err)
		}
		if !builtinFunctions[name] {
			continue
		}
		exists[name] = true
		if secdef {
			t.Errorf("%s is SECURITY DEFINER", name)
		}
		if vol == "v" && !volatileReviewed[name] && kind != "w" && kind != "a" {
			t.Errorf("allow-listed %s has a volatile overload; review it and add it to volatileReviewed if harmless", name)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var missing []string
	for name := range builtinFunctions {
		if !exists[name] {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	// Names added in PostgreSQL 16 are absent from a 15 server.
	newer := setOf(`any_value array_sample array_shuffle erf erfc json_agg_strict jsonb_agg_strict
		json_object_agg_strict jsonb_object_agg_strict json_object_agg_unique jsonb_object_agg_unique
		json_object_agg_unique_strict jsonb_object_agg_unique_strict pg_size_bytes`)
	for _, name := range missing {
		if !newer[name] {
			t.Errorf("allow-listed function %s does not exist in pg_catalog", name)
		}
	}
	for typ := range builtinTypes {
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_type WHERE typname = $1 AND typnamespace = 'pg_catalog'::regnamespace`, typ).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("allow-listed type %s is not in pg_catalog", typ)
		}
	}
	for op := range builtinOperators {
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_operator WHERE oprname = $1 AND oprnamespace = 'pg_catalog'::regnamespace`, op).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Errorf("allow-listed operator %s is not in pg_catalog", op)
		}
	}
	// x.name on a value of unknown type is allowed for these names only
	// because no built-in function could be called by them.
	for name := range fieldNames {
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_proc WHERE proname = $1 AND pronamespace = 'pg_catalog'::regnamespace`, name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("field name %s is also a pg_catalog function, so x.%s could call it", name, name)
		}
	}
}
