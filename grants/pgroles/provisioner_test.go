package pgroles

import (
	"context"
	"encoding/base64"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/keyholehq/keyhole/grants"
)

func TestRoleName(t *testing.T) {
	a := RoleName("kh_", "token-a")
	if a != RoleName("kh_", "token-a") {
		t.Error("RoleName is not deterministic")
	}
	if a == RoleName("kh_", "token-b") {
		t.Error("two tokens share a role name")
	}
	if !regexp.MustCompile(namePattern("kh_")).MatchString(a) || len(a) != len("kh_")+20 {
		t.Errorf("RoleName = %q, want kh_ and 20 base32 characters", a)
	}
	if regexp.MustCompile(namePattern("kh_")).MatchString("kh_admin") {
		t.Error("the reaping pattern matches an admin's role name")
	}
}

func TestLiteralRefusesWhatCouldEscape(t *testing.T) {
	for _, bad := range []string{"a'b", `a\b`, "a\x00b", "a;b", "é"} {
		if _, err := literal(bad); err == nil {
			t.Errorf("literal(%q) accepted", bad)
		}
	}
	if got, err := literal("SCRAM-SHA-256$4096:c2FsdA==$a+b/:c="); err != nil || got != "'SCRAM-SHA-256$4096:c2FsdA==$a+b/:c='" {
		t.Errorf("literal = %q, %v", got, err)
	}
}

// PostgreSQL computes a verifier for a password it is given; ours, with
// the same salt and iterations, must be byte for byte the same.
func TestSCRAMVerifierMatchesPostgres(t *testing.T) {
	conn := admin(t)
	ctx := context.Background()
	name := uniquePrefix(t) + "scram"
	if _, err := conn.Exec(ctx, "SET password_encryption = 'scram-sha-256'; CREATE ROLE "+name+" PASSWORD 'pencil'"); err != nil {
		t.Fatal(err)
	}
	var stored string
	if err := conn.QueryRow(ctx, "SELECT rolpassword FROM pg_authid WHERE rolname = $1", name).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	iter, salt := parseVerifier(t, stored)
	got, err := scramVerifier("pencil", salt, iter)
	if err != nil {
		t.Fatal(err)
	}
	if got != stored {
		t.Errorf("verifier:\n got %s\nwant %s", got, stored)
	}
}

func parseVerifier(t *testing.T, v string) (int, []byte) {
	t.Helper()
	m := regexp.MustCompile(`^SCRAM-SHA-256\$(\d+):([^$]+)\$[^:]+:.+$`).FindStringSubmatch(v)
	if m == nil {
		t.Fatalf("not a SCRAM-SHA-256 verifier: %.20s…", v)
	}
	iter, _ := strconv.Atoi(m[1])
	salt, err := base64.StdEncoding.DecodeString(m[2])
	if err != nil {
		t.Fatal(err)
	}
	return iter, salt
}

func newProvisioner(t testing.TB) *Provisioner {
	t.Helper()
	p, err := NewProvisioner(resource(t, keeperDSN), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func create(t testing.TB, p *Provisioner, sc grants.Scope) *Role {
	t.Helper()
	r, err := p.Create(context.Background(), Spec{
		Name: RoleName(p.Prefix(), randHex(16)), Scope: sc,
		ValidUntil: time.Now().Add(10 * time.Minute), ApplicationName: "keyhole test",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.pool.Close)
	return r
}

func TestCreateReadRole(t *testing.T) {
	p := newProvisioner(t)
	conn := admin(t)
	ctx := context.Background()
	until := time.Now().Add(10 * time.Minute).Truncate(time.Second)
	r, err := p.Create(ctx, Spec{
		Name:       RoleName(p.Prefix(), "read-token"),
		Scope:      scope(grants.Read, "public.orders", "public.customers(id, region)"),
		ValidUntil: until, ApplicationName: "keyhole agent=a grant=g_1",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer r.pool.Close()

	var login, inherit, createdb, createrole, super, repl, bypass bool
	var connlimit int
	var validUntil time.Time
	var settings []string
	err = conn.QueryRow(ctx, `SELECT rolcanlogin, rolinherit, rolcreatedb, rolcreaterole, rolsuper, rolreplication, rolbypassrls,
			rolconnlimit, rolvaliduntil, rolconfig FROM pg_roles WHERE rolname = $1`, r.Name()).
		Scan(&login, &inherit, &createdb, &createrole, &super, &repl, &bypass, &connlimit, &validUntil, &settings)
	if err != nil {
		t.Fatal(err)
	}
	if !login || inherit || createdb || createrole || super || repl || bypass || connlimit != ConnectionLimit || !validUntil.Equal(until) {
		t.Errorf("attributes: login=%v inherit=%v createdb=%v createrole=%v super=%v repl=%v bypass=%v connlimit=%d until=%v",
			login, inherit, createdb, createrole, super, repl, bypass, connlimit, validUntil)
	}
	for _, want := range []string{"default_transaction_read_only=on", "statement_timeout=30000", "lock_timeout=30000",
		"idle_in_transaction_session_timeout=31000", "search_path=public"} {
		if !contains(settings, want) {
			t.Errorf("role settings %v lack %s", settings, want)
		}
	}

	// Exactly the granted privileges.
	privs := []struct {
		sql  string
		want bool
	}{
		{`SELECT has_schema_privilege($1, 'public', 'USAGE')`, true},
		{`SELECT has_table_privilege($1, 'public.orders', 'SELECT')`, true},
		{`SELECT has_table_privilege($1, 'public.orders', 'INSERT')`, false},
		{`SELECT has_table_privilege($1, 'public.orders', 'UPDATE')`, false},
		{`SELECT has_table_privilege($1, 'public.orders', 'DELETE')`, false},
		{`SELECT has_table_privilege($1, 'public.orders', 'TRUNCATE')`, false},
		{`SELECT has_table_privilege($1, 'public.customers', 'SELECT')`, false},
		{`SELECT has_column_privilege($1, 'public.customers', 'region', 'SELECT')`, true},
		{`SELECT has_column_privilege($1, 'public.customers', 'email', 'SELECT')`, false},
		{`SELECT has_column_privilege($1, 'public.customers', 'ssn', 'SELECT')`, false},
		{`SELECT has_table_privilege($1, 'public.payment_secrets', 'SELECT')`, false},
		{`SELECT has_table_privilege($1, 'public.notes', 'SELECT')`, false},
	}
	for _, pv := range privs {
		var got bool
		if err := conn.QueryRow(ctx, pv.sql, r.Name()).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != pv.want {
			t.Errorf("%s = %v, want %v", pv.sql, got, pv.want)
		}
	}

	// pg_authid holds a SCRAM verifier of the pool's password, never the password.
	var stored string
	if err := conn.QueryRow(ctx, "SELECT rolpassword FROM pg_authid WHERE rolname = $1", r.Name()).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	password := r.pool.Config().ConnConfig.Password
	if len(password) != 43 || strings.Contains(stored, password) {
		t.Fatalf("password %d chars; stored verifier contains it: %v", len(password), strings.Contains(stored, password))
	}
	iter, salt := parseVerifier(t, stored)
	if want, _ := scramVerifier(password, salt, iter); want != stored || iter != 4096 {
		t.Errorf("pg_authid does not hold the verifier of the pool's password")
	}

	// The pool logs in as the role, with none of keyhole's run-time parameters.
	var user, app, readOnly string
	if err := r.pool.QueryRow(ctx, "SELECT current_user, current_setting('application_name'), current_setting('default_transaction_read_only')").Scan(&user, &app, &readOnly); err != nil {
		t.Fatal(err)
	}
	if user != r.Name() || app != "keyhole agent=a grant=g_1" || readOnly != "on" {
		t.Errorf("session: user %s app %q read_only %s", user, app, readOnly)
	}
	wantState(t, r.pool, "SELECT email FROM customers", "42501")
	wantState(t, r.pool, "SELECT * FROM payment_secrets", "42501")
	wantState(t, r.pool, "INSERT INTO orders (id, customer_id, total, status, created_at) VALUES (999, 1, 1, 'x', now())", "25006")
	wantState(t, r.pool, "SELECT id, region FROM customers", "")
}

func wantState(t *testing.T, pool *pgxpool.Pool, sql, state string) {
	t.Helper()
	_, err := pool.Exec(context.Background(), sql)
	var pgErr *pgconn.PgError
	got := ""
	if errors.As(err, &pgErr) {
		got = pgErr.Code
	} else if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	if got != state {
		t.Errorf("%s: SQLSTATE %q, want %q (%v)", sql, got, state, err)
	}
}

func TestCreateWriteRole(t *testing.T) {
	p := newProvisioner(t)
	whole := create(t, p, scope(grants.Write, "public.notes"))
	wantState(t, whole.pool, "INSERT INTO notes (body) VALUES ('from a write grant')", "") // nextval needs USAGE on notes_id_seq
	wantState(t, whole.pool, "UPDATE notes SET body = 'x' WHERE body = 'from a write grant' RETURNING id", "")
	wantState(t, whole.pool, "DELETE FROM notes WHERE body = 'x'", "")
	wantState(t, whole.pool, "SELECT * FROM orders", "42501")
	wantState(t, whole.pool, "CREATE TABLE public.evil (x int)", "42501")

	cols := create(t, p, scope(grants.Write, "public.notes(body)"))
	wantState(t, cols.pool, "INSERT INTO notes (body) VALUES ('column-scoped')", "")
	wantState(t, cols.pool, "UPDATE notes SET body = 'y' WHERE body = 'column-scoped'", "")
	wantState(t, cols.pool, "UPDATE notes SET secret = 'y'", "42501")
	wantState(t, cols.pool, "SELECT secret FROM notes", "42501")
	wantState(t, cols.pool, "DELETE FROM notes", "42501")
}

// keyhole's role cannot hand out what it may not grant: the role is not
// created at all, and nothing is left behind.
func TestCreateIsAllOrNothing(t *testing.T) {
	p := newProvisioner(t)
	name := RoleName(p.Prefix(), "too-much")
	_, err := p.Create(context.Background(), Spec{Name: name, Scope: scope(grants.Read, "public.orders", "public.payment_secrets"),
		ValidUntil: time.Now().Add(time.Minute)})
	if err == nil {
		t.Fatal("created a role with a privilege keyhole's role cannot grant")
	}
	if strings.Contains(err.Error(), "SCRAM") || strings.Contains(err.Error(), "PASSWORD") {
		t.Errorf("the error quotes the statement: %v", err)
	}
	if roleExists(t, admin(t), name) {
		t.Error("a half-made role was left behind")
	}
}

func TestEndTerminatesRunningQueries(t *testing.T) {
	p := newProvisioner(t)
	conn := admin(t)
	r := create(t, p, scope(grants.Read, "public.orders"))
	errc := make(chan error, 1)
	go func() {
		_, err := r.pool.Exec(context.Background(), "SELECT pg_sleep(60) FROM orders LIMIT 1")
		errc <- err
	}()
	waitFor(t, "the query to run", func() bool {
		var n int
		_ = conn.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity WHERE usename = $1 AND state = 'active'`, r.Name()).Scan(&n)
		return n == 1
	})
	if err := p.End(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	err := <-errc
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "57P01" {
		t.Errorf("the running query should fail with 57P01 (terminated by administrator), got %v", err)
	}
	if roleExists(t, conn, r.Name()) || backends(t, conn, r.Name()) != 0 {
		t.Error("the role or its backends outlived End")
	}
	if err := p.Drop(context.Background(), r.Name()); err != nil {
		t.Errorf("dropping a role that is gone: %v", err)
	}
}

func TestConcurrentEndsOfOneRole(t *testing.T) {
	p := newProvisioner(t)
	q, err := NewProvisioner(p.res, nil) // another process
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	r := create(t, p, scope(grants.Write, "public.notes"))
	wantState(t, r.pool, "SELECT 1", "")
	var wg sync.WaitGroup
	errs := make([]error, 3)
	wg.Add(3)
	go func() { defer wg.Done(); errs[0] = p.End(context.Background(), r) }()
	go func() { defer wg.Done(); errs[1] = q.Drop(context.Background(), r.Name()) }()
	go func() { defer wg.Done(); errs[2] = p.Drop(context.Background(), r.Name()) }()
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("end %d: %v", i, err)
		}
	}
	if roleExists(t, admin(t), r.Name()) {
		t.Error("role survived")
	}
}

func TestReapDropsOnlyOrphans(t *testing.T) {
	p := newProvisioner(t)
	conn := admin(t)
	ctx := context.Background()
	live := create(t, p, scope(grants.Read, "public.orders"))
	orphan := create(t, p, scope(grants.Write, "public.notes"))
	wantState(t, orphan.pool, "SELECT 1 FROM notes", "") // a session of the orphan is open
	// A role an admin named with the same prefix is not keyhole's.
	adminRole := p.Prefix() + "admin"
	if _, err := conn.Exec(ctx, "CREATE ROLE "+adminRole+" NOINHERIT"); err != nil {
		t.Fatal(err)
	}
	var listedBeforeOwned bool
	dropped, err := p.Reap(ctx, func(context.Context) (map[string]bool, error) {
		listedBeforeOwned = true
		return map[string]bool{live.Name(): true}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !listedBeforeOwned || len(dropped) != 1 || dropped[0] != orphan.Name() {
		t.Errorf("reaped %v, want [%s]", dropped, orphan.Name())
	}
	if !roleExists(t, conn, live.Name()) || !roleExists(t, conn, adminRole) || roleExists(t, conn, orphan.Name()) {
		t.Error("reaping dropped the wrong roles")
	}
	if backends(t, conn, orphan.Name()) != 0 {
		t.Error("the orphan's session survived")
	}
}

// The pool must not carry keyhole's own run-time parameters: a DSN that
// sets search_path or a role would override the role's settings.
func TestRolePoolDropsDSNRuntimeParams(t *testing.T) {
	res := resource(t, keeperDSN+"&search_path=pg_catalog&options=-c%20idle_in_transaction_session_timeout%3D12345")
	if !strings.Contains(keeperDSN, "?") {
		t.Skip("test DSN has no query string")
	}
	p, err := NewProvisioner(res, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	r := create(t, p, scope(grants.Read, "public.orders"))
	var path, timeout string
	if err := r.pool.QueryRow(context.Background(), "SELECT current_setting('search_path'), current_setting('idle_in_transaction_session_timeout')").Scan(&path, &timeout); err != nil {
		t.Fatal(err)
	}
	if path != "public" || timeout != "31s" {
		t.Errorf("search_path %q, statement_timeout %q: the DSN's parameters leaked into the role's sessions", path, timeout)
	}
}

var _ = pgx.Identifier{}
