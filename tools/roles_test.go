package tools

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyholehq/keyhole/audit"
	"github.com/keyholehq/keyhole/config"
	"github.com/keyholehq/keyhole/grants"
	"github.com/keyholehq/keyhole/grants/pgexec"
	"github.com/keyholehq/keyhole/grants/pgroles"
	"github.com/keyholehq/keyhole/grants/sqlitestore"
)

// roleFixture is a Service whose resource is enforced with ephemeral
// roles, connected as a role with CREATEROLE and grant options only (the
// setup the README documents), with a role prefix of its own so that tests
// running in parallel against the same cluster never touch each other's
// roles.
type roleFixture struct {
	svc     *Service
	gm      *grants.Manager
	keeper  *pgroles.Keeper
	cfg     *config.Config
	clock   *fakeClock
	trail   string
	store   *sqlitestore.Store
	prefix  string
	admin   *pgx.Conn // superuser, for looking
	keyhole string    // keyhole's own role in PostgreSQL
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func newRoleFixture(t testing.TB) *roleFixture {
	t.Helper()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, testDB.DSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })
	keyhole := "khtools_" + randHex(4)
	_, err = admin.Exec(ctx, fmt.Sprintf(`
		CREATE TABLE IF NOT EXISTS kh_notes (id serial PRIMARY KEY, body text, secret text);
		CREATE ROLE %[1]s LOGIN CREATEROLE;
		GRANT USAGE ON SCHEMA public TO %[1]s WITH GRANT OPTION;
		GRANT SELECT ON orders, customers TO %[1]s WITH GRANT OPTION;
		GRANT SELECT, INSERT, UPDATE, DELETE ON kh_notes TO %[1]s WITH GRANT OPTION;
		GRANT USAGE ON SEQUENCE kh_notes_id_seq TO %[1]s WITH GRANT OPTION;`, keyhole))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, err := admin.Exec(context.Background(), fmt.Sprintf(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '%[1]s';
			DROP OWNED BY %[1]s; DROP ROLE %[1]s`, keyhole))
		if err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	u, _ := url.Parse(testDB.DSN)
	u.User = url.User(keyhole)
	prefix := "tt" + randHex(3) + "_"

	dir := t.TempDir()
	cfgText := `data_dir: ` + dir + `
resources:
  shop:
    dsn: ` + u.String() + `
    enforcement: ephemeral-role
    role_prefix: ` + prefix + `
    tables:
      public.orders: {}
      public.customers: {columns: [id, name, region, created_at]}
      public.kh_notes: {}
      public.payment_secrets: {}
    limits: {statement_timeout: 30s}
agents:
  analytics-*:
    allow:
      - {resource: shop, privileges: [read], tables: [public.orders, public.customers, public.kh_notes], max_duration: 15m}
      - {resource: shop, privileges: [write], tables: [public.kh_notes], max_duration: 15m}
  greedy:
    allow:
      - {resource: shop, privileges: [read], max_duration: 15m}
audit: {fsync: always}
`
	w := wire(t, dir, cfgText, time.Now().Truncate(time.Second))
	keeper, err := pgroles.NewKeeper(w.cfg, w.clock.Now, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Registered after wire's cleanup, so it runs first: roles end before
	// the store and trail close.
	t.Cleanup(func() {
		if err := keeper.Close(context.Background()); err != nil {
			t.Errorf("keeper close: %v", err)
		}
	})
	return &roleFixture{
		svc: New(w.cfg, w.gm, w.exec, w.trail, nil, WithRoles(keeper)), gm: w.gm, keeper: keeper, cfg: w.cfg,
		clock: w.clock, trail: w.trailPath, store: w.store, prefix: prefix, admin: admin, keyhole: keyhole,
	}
}

func newSession(agent string) *Session {
	sid := grants.NewSessionID()
	return &Session{Identity: grants.SessionIdentity{ID: sid, Agent: agent, SPIFFE: grants.SPIFFEID("keyhole.local", agent, sid)}}
}

// request grants privilege on tables to sess and returns the grant id.
func (f *roleFixture) request(t *testing.T, sess *Session, privilege string, tables ...string) string {
	t.Helper()
	res, err := f.svc.RequestAccess(context.Background(), Call{Session: sess}, RequestAccessArgs{
		Resource: "shop", Privilege: privilege, Tables: tables, Duration: "10m", Justification: "role test"})
	if err != nil {
		t.Fatal(err)
	}
	return res.Structured.(*RequestAccessResult).GrantID
}

func (f *roleFixture) query(sess *Session, grantID, sql string, params ...any) (*DatabaseQueryResult, error) {
	res, err := f.svc.DatabaseQuery(context.Background(), Call{Session: sess}, DatabaseQueryArgs{Resource: "shop", SQL: sql, GrantID: grantID, Params: params})
	if err != nil {
		return nil, err
	}
	return res.Structured.(*DatabaseQueryResult), nil
}

func (f *roleFixture) role(t *testing.T, grantID string) string {
	t.Helper()
	rec, err := f.store.Get(context.Background(), grantID)
	if err != nil {
		t.Fatal(err)
	}
	return pgroles.RoleName(f.prefix, rec.Token)
}

func (f *roleFixture) roleExists(t *testing.T, name string) bool {
	t.Helper()
	var ok bool
	if err := f.admin.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, name).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	return ok
}

func (f *roleFixture) activeQueries(t *testing.T, role string) int {
	t.Helper()
	var n int
	if err := f.admin.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity WHERE usename = $1 AND state = 'active'`, role).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func refusal(err error) (grants.Code, string) {
	d, ok := grants.AsDenial(err)
	if !ok {
		return "", ""
	}
	var qe *pgexec.QueryError
	if errors.As(err, &qe) {
		return d.Code, qe.SQLState
	}
	return d.Code, ""
}

func TestGrantRunsAsItsOwnRoleUntilItEnds(t *testing.T) {
	f := newRoleFixture(t)
	ctx := context.Background()
	sess := newSession("analytics-life")
	call := Call{Session: sess}

	// Release.
	g := f.request(t, sess, "read", "public.orders", "public.customers(id, region)")
	role := f.role(t, g)
	var orders, region, email bool
	if err := f.admin.QueryRow(ctx, `SELECT has_table_privilege($1, 'public.orders', 'SELECT'),
			has_column_privilege($1, 'public.customers', 'region', 'SELECT'), has_column_privilege($1, 'public.customers', 'email', 'SELECT')`, role).
		Scan(&orders, &region, &email); err != nil {
		t.Fatal(err)
	}
	if !orders || !region || email {
		t.Errorf("privileges of %s: orders %v, customers.region %v, customers.email %v", role, orders, region, email)
	}
	out, err := f.query(sess, g, "SELECT count(*) FROM orders")
	if err != nil || out.RowCount != 1 {
		t.Fatalf("query: %v %v", out, err)
	}
	if _, err := f.svc.ReleaseAccess(ctx, call, ReleaseAccessArgs{GrantID: g}); err != nil {
		t.Fatal(err)
	}
	if f.roleExists(t, role) {
		t.Error("role survived release")
	}

	// Session end.
	g = f.request(t, sess, "read", "public.orders")
	role = f.role(t, g)
	if err := f.svc.SessionEnded(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if f.roleExists(t, role) {
		t.Error("role survived the end of its session")
	}

	// Expiry, noticed by the sweep without any call.
	sess = newSession("analytics-life")
	g = f.request(t, sess, "read", "public.orders")
	role = f.role(t, g)
	f.clock.Advance(10 * time.Minute)
	if err := f.svc.ExpireDue(ctx, func(string) *Session { return sess }); err != nil {
		t.Fatal(err)
	}
	if f.roleExists(t, role) {
		t.Error("role survived expiry")
	}
	_, err = f.query(sess, g, "SELECT 1")
	if c, _ := refusal(err); c != grants.CodeGrantExpired {
		t.Errorf("after expiry: %v", err)
	}

	// Revocation by another process (the admin CLI), noticed by this
	// process's one-second sweep.
	f.clock.Advance(time.Minute)
	g = f.request(t, sess, "read", "public.orders")
	role = f.role(t, g)
	f.revokeElsewhere(t, g)
	if f.roleExists(t, role) {
		t.Error("role survived revocation")
	}
	if err := f.sweep(); err != nil {
		t.Fatal(err)
	}
	if f.keeper.Pool(g) != nil {
		t.Error("the sweep did not let go of a revoked grant's pool")
	}
	_, err = f.query(sess, g, "SELECT 1")
	if c, _ := refusal(err); c != grants.CodeGrantRevoked {
		t.Errorf("after revocation: %v", err)
	}
}

// revokeElsewhere revokes a grant as `keyhole grants revoke` does from its
// own process: the store first, then the role, by name.
func (f *roleFixture) revokeElsewhere(t *testing.T, grantID string) {
	t.Helper()
	rec, err := f.gm.Revoke(context.Background(), grantID, "alice")
	if err != nil {
		t.Fatal(err)
	}
	cli, err := pgroles.NewKeeper(f.cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close(context.Background())
	if err := cli.End(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
}

// sweep is the serving process's one-second loop.
func (f *roleFixture) sweep() error {
	return f.keeper.Sweep(context.Background(), func(ctx context.Context, id string) (bool, error) {
		rec, err := f.store.Get(ctx, id)
		if err != nil {
			return false, err
		}
		return rec.State == grants.Active, nil
	})
}

// A long query is cancelled in PostgreSQL when its grant ends, and the
// agent learns why.
func TestEndingAGrantCancelsItsRunningQuery(t *testing.T) {
	const forever = "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t) SELECT count(*) FROM t"
	for _, tc := range []struct {
		name string
		end  func(t *testing.T, f *roleFixture, sess *Session, grantID string)
		want grants.Code
	}{
		{"expiry", func(t *testing.T, f *roleFixture, sess *Session, _ string) {
			f.clock.Advance(10 * time.Minute)
			if err := f.svc.ExpireDue(context.Background(), func(string) *Session { return sess }); err != nil {
				t.Error(err)
			}
		}, grants.CodeGrantExpired},
		{"revocation", func(t *testing.T, f *roleFixture, _ *Session, grantID string) { f.revokeElsewhere(t, grantID) }, grants.CodeGrantRevoked},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newRoleFixture(t)
			sess := newSession("analytics-long")
			g := f.request(t, sess, "read", "public.orders")
			role := f.role(t, g)
			errc := make(chan error, 1)
			go func() {
				_, err := f.query(sess, g, forever)
				errc <- err
			}()
			waitFor(t, "the query to run in PostgreSQL", func() bool { return f.activeQueries(t, role) == 1 })
			tc.end(t, f, sess, g)
			err := <-errc
			if c, _ := refusal(err); c != tc.want {
				t.Errorf("the running query got %v, want %s", err, tc.want)
			}
			if f.roleExists(t, role) || f.activeQueries(t, role) != 0 {
				t.Error("the role or its query survived")
			}
			b, _ := readFile(f.trail)
			if !strings.Contains(b, `"event":"query.failed"`) || !strings.Contains(b, `"code":"`+string(tc.want)+`"`) {
				t.Errorf("the trail does not record the failed query with %s", tc.want)
			}
		})
	}
}

// The second lock alone: with keyhole's SQL gate switched off, PostgreSQL
// itself refuses what the grant does not cover.
func TestSecondLockAlone(t *testing.T) {
	f := newRoleFixture(t)
	f.svc.noGate = true
	sess := newSession("analytics-attacker")
	read := f.request(t, sess, "read", "public.orders", "public.customers(id, name, region)")
	write := f.request(t, sess, "write", "public.kh_notes(body)")

	// A control: what the grant covers works without the gate too.
	if _, err := f.query(sess, read, "SELECT c.region, count(*) FROM orders o JOIN customers c ON c.id = o.customer_id GROUP BY 1"); err != nil {
		t.Fatalf("an in-scope query: %v", err)
	}
	if _, err := f.query(sess, write, "INSERT INTO kh_notes (body) VALUES ('in scope') RETURNING body"); err != nil {
		t.Fatalf("an in-scope write: %v", err)
	}

	for _, tc := range []struct {
		name, grant, sql string
		code             grants.Code
		sqlstate         string
	}{
		// Out-of-scope reads.
		{"table not granted", read, "SELECT * FROM payment_secrets", grants.CodeOutOfScope, "42501"},
		{"column not granted", read, "SELECT email FROM customers", grants.CodeOutOfScope, "42501"},
		{"star over a column-scoped table", read, "SELECT * FROM customers", grants.CodeOutOfScope, "42501"},
		{"column in a WHERE", read, "SELECT id FROM customers WHERE ssn LIKE '1%'", grants.CodeOutOfScope, "42501"},
		{"column through a subquery", read, "SELECT (SELECT max(ssn) FROM customers) FROM orders LIMIT 1", grants.CodeOutOfScope, "42501"},
		{"whole-row reference", read, "SELECT c FROM customers c", grants.CodeOutOfScope, "42501"},
		{"catalog of passwords", read, "SELECT rolpassword FROM pg_authid", grants.CodeOutOfScope, "42501"},
		{"a table of the other grant", read, "SELECT body FROM kh_notes", grants.CodeOutOfScope, "42501"},
		// Writes under a read grant.
		{"delete under read", read, "DELETE FROM orders WHERE id = 101", grants.CodeWriteNotGranted, "25006"},
		{"update under read", read, "UPDATE orders SET status = 'void'", grants.CodeWriteNotGranted, "25006"},
		{"writable CTE under read", read, "WITH d AS (DELETE FROM orders RETURNING *) SELECT count(*) FROM d", grants.CodeWriteNotGranted, "25006"},
		{"insert under read", read, "INSERT INTO orders (id, customer_id, total, status, created_at) VALUES (9999, 1, 1, 'x', now())", grants.CodeWriteNotGranted, "25006"},
		{"leave read-only mid-transaction", read, "SELECT set_config('transaction_read_only', 'off', true)", grants.CodeQueryFailed, "25001"},
		// Column leaks and overreach under a column-scoped write grant.
		{"update a column not granted", write, "UPDATE kh_notes SET secret = 'x'", grants.CodeOutOfScope, "42501"},
		{"read a column not granted", write, "SELECT secret FROM kh_notes", grants.CodeOutOfScope, "42501"},
		{"returning a column not granted", write, "UPDATE kh_notes SET body = body RETURNING secret", grants.CodeOutOfScope, "42501"},
		{"insert into a column not granted", write, "INSERT INTO kh_notes (secret) VALUES ('x')", grants.CodeOutOfScope, "42501"},
		{"delete whole rows", write, "DELETE FROM kh_notes", grants.CodeOutOfScope, "42501"},
		{"write another table", write, "DELETE FROM orders", grants.CodeOutOfScope, "42501"},
		// DDL.
		{"create table", write, "CREATE TABLE public.evil (x int)", grants.CodeOutOfScope, "42501"},
		{"drop table", write, "DROP TABLE kh_notes", grants.CodeOutOfScope, "42501"},
		{"alter table", write, "ALTER TABLE kh_notes ADD COLUMN x int", grants.CodeOutOfScope, "42501"},
		{"truncate", write, "TRUNCATE kh_notes", grants.CodeOutOfScope, "42501"},
		{"create function", write, "CREATE FUNCTION public.f() RETURNS int LANGUAGE sql AS 'SELECT 1'", grants.CodeOutOfScope, "42501"},
		{"create role", write, "CREATE ROLE escape LOGIN", grants.CodeOutOfScope, "42501"},
		{"ddl under read", read, "CREATE TABLE public.evil (x int)", grants.CodeWriteNotGranted, "25006"},
		// Privileged functions and commands.
		{"pg_read_file", read, "SELECT pg_read_file('/etc/passwd')", grants.CodeOutOfScope, "42501"},
		{"pg_ls_dir", read, "SELECT pg_ls_dir('.')", grants.CodeOutOfScope, "42501"},
		{"lo_import", write, "SELECT lo_import('/etc/passwd')", grants.CodeOutOfScope, "42501"},
		{"COPY TO PROGRAM", read, "COPY (SELECT 1) TO PROGRAM 'id'", grants.CodeOutOfScope, "42501"},
		{"COPY FROM a file", write, "COPY kh_notes (body) FROM '/etc/passwd'", grants.CodeOutOfScope, "42501"},
		{"server settings", read, "SELECT current_setting('data_directory')", grants.CodeOutOfScope, "42501"},
		{"become keyhole", read, "SELECT set_config('role', '" + f.keyhole + "', true)", grants.CodeOutOfScope, "42501"},
		{"become the superuser", read, "SET SESSION AUTHORIZATION postgres", grants.CodeOutOfScope, "42501"},
		{"terminate keyhole's sessions", read, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '" + f.keyhole + "'", grants.CodeOutOfScope, "42501"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.query(sess, tc.grant, tc.sql)
			code, state := refusal(err)
			if code != tc.code || state != tc.sqlstate {
				t.Errorf("%s: got %s/%s (%v), want %s/%s", tc.sql, code, state, err, tc.code, tc.sqlstate)
			}
		})
	}

	// Changing the session default does not open a door: every query runs
	// in its own READ ONLY transaction as a role with no write privilege.
	if _, err := f.query(sess, read, "SELECT set_config('default_transaction_read_only', 'off', false)"); err != nil {
		t.Fatalf("set_config: %v", err)
	}
	_, err := f.query(sess, read, "DELETE FROM orders WHERE id = 101")
	if code, state := refusal(err); code != grants.CodeWriteNotGranted || state != "25006" {
		t.Errorf("a write after default_transaction_read_only=off: %s/%s %v", code, state, err)
	}
	var n int
	if err := f.admin.QueryRow(context.Background(), "SELECT count(*) FROM orders WHERE id = 101").Scan(&n); err != nil || n != 1 {
		t.Errorf("order 101 is gone: %v", err)
	}
}

// dblink, where installed and executable by PUBLIC (its default), cannot
// open a connection for a role that holds no password of its own.
func TestSecondLockStopsDblink(t *testing.T) {
	f := newRoleFixture(t)
	ctx := context.Background()
	var available bool
	if err := f.admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'dblink')").Scan(&available); err != nil || !available {
		t.Skip("dblink is not available on this server")
	}
	schema := "ext_" + randHex(3)
	if _, err := f.admin.Exec(ctx, fmt.Sprintf("CREATE SCHEMA %[1]s; CREATE EXTENSION IF NOT EXISTS dblink SCHEMA %[1]s; GRANT USAGE ON SCHEMA %[1]s TO PUBLIC", schema)); err != nil {
		t.Skipf("dblink: %v", err)
	}
	t.Cleanup(func() { _, _ = f.admin.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE") })
	f.svc.noGate = true
	sess := newSession("analytics-dblink")
	g := f.request(t, sess, "read", "public.orders")
	_, err := f.query(sess, g, "SELECT * FROM "+schema+".dblink('dbname=postgres user=postgres', 'SELECT rolpassword FROM pg_authid') AS t(p text)")
	if code, state := refusal(err); code != grants.CodeQueryFailed || state != "2F003" {
		t.Errorf("dblink: %s/%s %v, want QUERY_FAILED/2F003 (password required)", code, state, err)
	}
}

// Two sessions with overlapping grants, queried concurrently, each run as
// their own role and can neither see into nor touch the other's sessions.
func TestConcurrentSessionsAreIsolated(t *testing.T) {
	f := newRoleFixture(t)
	f.svc.noGate = true
	a, b := newSession("analytics-a"), newSession("analytics-b")
	ga := f.request(t, a, "read", "public.orders", "public.customers(id, region)")
	gb := f.request(t, b, "read", "public.orders")
	ra, rb := f.role(t, ga), f.role(t, gb)
	if ra == rb {
		t.Fatal("two grants share a role")
	}

	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := 0; i < 16; i++ {
		for _, s := range []struct {
			sess  *Session
			grant string
			role  string
		}{{a, ga, ra}, {b, gb, rb}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out, err := f.query(s.sess, s.grant, "SELECT current_user, session_user, count(*) FROM orders")
				if err != nil {
					errs <- err
					return
				}
				if out.Rows[0][0] != s.role || out.Rows[0][1] != s.role {
					errs <- fmt.Errorf("grant %s ran as %v/%v, want %s", s.grant, out.Rows[0][0], out.Rows[0][1], s.role)
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	// A cannot read B's statements, end B's sessions, or become B.
	out, err := f.query(a, ga, "SELECT DISTINCT query FROM pg_stat_activity WHERE usename = $1", rb)
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range out.Rows {
		if row[0] != "<insufficient privilege>" {
			t.Errorf("session a sees session b's statement: %v", row[0])
		}
	}
	for _, sql := range []string{
		"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1",
		"SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE usename = $1",
		"SELECT set_config('role', $1, true)",
	} {
		_, err := f.query(a, ga, sql, rb)
		if code, state := refusal(err); code != grants.CodeOutOfScope || state != "42501" {
			t.Errorf("%s: %s/%s %v", sql, code, state, err)
		}
	}
	// B's grant is useless to A, and ending A's leaves B's running.
	if _, err := f.query(a, gb, "SELECT 1"); err == nil {
		t.Error("session a used session b's grant")
	}
	if _, err := f.svc.ReleaseAccess(context.Background(), Call{Session: a}, ReleaseAccessArgs{All: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.query(b, gb, "SELECT count(*) FROM orders"); err != nil {
		t.Errorf("session b after session a released: %v", err)
	}
	if f.roleExists(t, ra) || !f.roleExists(t, rb) {
		t.Error("release ended the wrong role")
	}
}

// A grant whose role cannot be created is not granted at all.
func TestRoleCreationFailureGrantsNothing(t *testing.T) {
	f := newRoleFixture(t)
	sess := newSession("greedy")
	_, err := f.svc.RequestAccess(context.Background(), Call{Session: sess}, RequestAccessArgs{
		Resource: "shop", Privilege: "read", Tables: []string{"public.payment_secrets"}, Justification: "keyhole's role may not grant this"})
	if c, _ := refusal(err); c != grants.CodeUnavailable {
		t.Fatalf("want UNAVAILABLE, got %v", err)
	}
	active, err := f.store.List(context.Background(), grants.Filter{SessionID: sess.Identity.ID, State: grants.Active})
	if err != nil || len(active) != 0 {
		t.Errorf("active grants after a failed role creation: %v %v", active, err)
	}
	b, _ := readFile(f.trail)
	if !strings.Contains(b, `"event":"access.denied"`) || strings.Contains(b, `"event":"access.granted"`) {
		t.Error("the trail should record a denial and no grant")
	}
}

// When PostgreSQL has no connection to give the grant's role, the agent
// gets UNAVAILABLE at once, with the reason.
func TestNoConnectionForTheRoleIsUnavailable(t *testing.T) {
	f := newRoleFixture(t)
	sess := newSession("analytics-full")
	g := f.request(t, sess, "read", "public.orders")
	if _, err := f.admin.Exec(context.Background(), "ALTER ROLE "+f.role(t, g)+" CONNECTION LIMIT 0"); err != nil {
		t.Fatal(err)
	}
	_, err := f.query(sess, g, "SELECT count(*) FROM orders")
	code, state := refusal(err)
	if code != grants.CodeUnavailable || state != "53300" || !strings.Contains(err.Error(), "no free database connection") {
		t.Errorf("want UNAVAILABLE/53300 with the reason, got %s/%s %v", code, state, err)
	}
}

func readFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	return string(b), err
}

// With set-role, queries run under SET LOCAL ROLE to the role the admin
// mapped for the grant's privilege: PostgreSQL refuses what that role may
// not do.
func TestSetRoleEnforcement(t *testing.T) {
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, testDB.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	reader := "khreader_" + randHex(4)
	if _, err := admin.Exec(ctx, fmt.Sprintf("CREATE ROLE %[1]s NOLOGIN; GRANT USAGE ON SCHEMA public TO %[1]s; GRANT SELECT ON orders TO %[1]s", reader)); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if _, err := admin.Exec(context.Background(), fmt.Sprintf("DROP OWNED BY %[1]s; DROP ROLE %[1]s", reader)); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	}()
	dir := t.TempDir()
	cfg, err := config.Parse(strings.NewReader(`data_dir: `+dir+`
resources:
  shop:
    dsn: `+testDB.DSN+`
    enforcement: set-role
    roles: {read: `+reader+`}
    tables:
      public.orders: {}
      public.payment_secrets: {}
agents:
  analytics-*:
    allow:
      - {resource: shop, privileges: [read]}
`), "test.yaml", func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	keys, err := grants.LoadOrCreateKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	store, err := sqlitestore.Open(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	exec := pgexec.New()
	defer func() { exec.Close(); store.Close() }()
	gm := grants.NewManager(keys, store, "spiffe://keyhole.local/keyhole", nil)
	svc := New(cfg, gm, exec, &memRecorder{}, nil)
	svc.noGate = true
	sess := newSession("analytics-setrole")
	res, err := svc.RequestAccess(ctx, Call{Session: sess}, RequestAccessArgs{Resource: "shop", Privilege: "read",
		Tables: []string{"public.orders", "public.payment_secrets"}, Justification: "set-role test"})
	if err != nil {
		t.Fatal(err)
	}
	g := res.Structured.(*RequestAccessResult).GrantID
	out, err := svc.DatabaseQuery(ctx, Call{Session: sess}, DatabaseQueryArgs{Resource: "shop", SQL: "SELECT current_user, count(*) FROM orders", GrantID: g})
	if err != nil {
		t.Fatal(err)
	}
	if row := out.Structured.(*DatabaseQueryResult).Rows[0]; row[0] != reader {
		t.Errorf("ran as %v, want %s", row[0], reader)
	}
	// The mapped role lacks what the policy would grant: the database says no.
	_, err = svc.DatabaseQuery(ctx, Call{Session: sess}, DatabaseQueryArgs{Resource: "shop", SQL: "SELECT * FROM payment_secrets", GrantID: g})
	if code, state := refusal(err); code != grants.CodeOutOfScope || state != "42501" {
		t.Errorf("a table the mapped role may not read: %s/%s %v", code, state, err)
	}
}

// memRecorder keeps audit events in memory.
type memRecorder struct {
	mu     sync.Mutex
	events []*audit.Event
}

func (m *memRecorder) Record(_ context.Context, e *audit.Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.events = append(m.events, e)
	return nil
}
