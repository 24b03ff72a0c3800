package pgroles

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyholehq/keyhole/config"
	"github.com/keyholehq/keyhole/grants"
	"github.com/keyholehq/keyhole/internal/testdb"
)

// The tests run keyhole's side as a role with CREATEROLE and grant options
// only — the setup the README documents — never as a superuser.
var (
	testDB     *testdb.DB
	keeperDSN  string // the test database, as the CREATEROLE-only role
	keeperRole string
)

func TestMain(m *testing.M) {
	keeperRole = "khkeeper_" + randHex(5)
	code := testdb.Main(m, func(db *testdb.DB) {
		testDB = db
		ctx := context.Background()
		for _, f := range []string{"schema.sql", "seed.sql"} {
			sql, err := os.ReadFile(filepath.Join("..", "..", "examples", "demo", f))
			if err != nil {
				panic(err)
			}
			if err := db.Exec(ctx, string(sql)); err != nil {
				panic(err)
			}
		}
		setup := fmt.Sprintf(`
			CREATE TABLE notes (id serial PRIMARY KEY, body text, secret text);
			INSERT INTO notes (body, secret) VALUES ('hello', 'psst');
			CREATE ROLE %[1]s LOGIN CREATEROLE;
			GRANT USAGE ON SCHEMA public TO %[1]s WITH GRANT OPTION;
			GRANT SELECT ON customers, orders TO %[1]s WITH GRANT OPTION;
			GRANT SELECT, INSERT, UPDATE, DELETE ON notes TO %[1]s WITH GRANT OPTION;
			GRANT USAGE ON SEQUENCE notes_id_seq TO %[1]s WITH GRANT OPTION;`, keeperRole)
		if err := db.Exec(ctx, setup); err != nil {
			panic(err)
		}
		u, _ := url.Parse(db.DSN)
		u.User = url.User(keeperRole)
		keeperDSN = u.String()
	})
	// The database is gone, and with it every privilege: drop the roles.
	if conn, err := pgx.Connect(context.Background(), testdb.AdminDSN()); err == nil {
		_, _ = conn.Exec(context.Background(), "DROP ROLE IF EXISTS "+keeperRole)
		conn.Close(context.Background())
	}
	os.Exit(code)
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// uniquePrefix keeps each test's roles apart from every other test's, in
// this package and any other running against the same cluster.
func uniquePrefix(t testing.TB) string {
	t.Helper()
	prefix := "tk" + randHex(3) + "_"
	t.Cleanup(func() { dropPrefix(t, prefix) })
	return prefix
}

// dropPrefix removes whatever roles a test left: keyhole's as keyhole's
// role (a superuser's DROP OWNED revokes only what object owners granted),
// any other as the superuser.
func dropPrefix(t testing.TB, prefix string) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testDB.DSN)
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1)`, prefix)
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	names, _ := pgx.CollectRows(rows, pgx.RowTo[string])
	if len(names) == 0 {
		return
	}
	res := &config.Resource{Name: "cleanup", DSN: config.NewSecret(keeperDSN), RolePrefix: prefix}
	p, err := NewProvisioner(res, nil)
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	defer p.Close()
	for _, n := range names {
		if p.names.MatchString(n) {
			err = p.Drop(ctx, n)
		} else {
			_, err = conn.Exec(ctx, "DROP ROLE "+ident(n))
		}
		if err != nil {
			t.Errorf("cleanup: drop %s: %v", n, err)
		}
	}
}

// resource is a resource of the test database as keyhole's role sees it.
func resource(t testing.TB, dsn string) *config.Resource {
	t.Helper()
	return &config.Resource{
		Name:        "shop",
		DSN:         config.NewSecret(dsn),
		Enforcement: config.EphemeralRole,
		Tables: []grants.TableScope{
			{Table: grants.Table{Schema: "public", Name: "orders"}},
			{Table: grants.Table{Schema: "public", Name: "customers"}, Columns: []string{"id", "name", "region", "created_at"}},
			{Table: grants.Table{Schema: "public", Name: "notes"}},
		},
		Limits:     config.Limits{MaxRows: 100, MaxResultBytes: 1 << 20, StatementTimeout: 30 * time.Second},
		SearchPath: []string{"public"},
		RolePrefix: uniquePrefix(t),
	}
}

func scope(priv grants.Privilege, tables ...string) grants.Scope {
	s := grants.Scope{Privilege: priv}
	for _, t := range tables {
		ts, err := grants.ParseTableScope(t)
		if err != nil {
			panic(err)
		}
		s.Tables = append(s.Tables, ts)
	}
	return s
}

// admin is a superuser connection to the test database, for looking.
func admin(t testing.TB) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), testDB.DSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func roleExists(t testing.TB, conn *pgx.Conn, name string) bool {
	t.Helper()
	var ok bool
	if err := conn.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, name).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	return ok
}

func backends(t testing.TB, conn *pgx.Conn, name string) int {
	t.Helper()
	var n int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity WHERE usename = $1`, name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// waitFor polls cond up to a generous bound; it asserts an outcome, not a speed.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
