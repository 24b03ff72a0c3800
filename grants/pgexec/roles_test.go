package pgexec

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/keyholehq/keyhole/config"
	"github.com/keyholehq/keyhole/grants"
)

// roleResource is the test database with a statement_timeout long enough
// for the queries below to be ended by something else.
func roleResource(t *testing.T) *config.Resource {
	t.Helper()
	exec(t, `CREATE TABLE IF NOT EXISTS open_t (x int); CREATE TABLE IF NOT EXISTS closed_t (x int)`)
	res := resource()
	res.Limits.StatementTimeout = 30 * time.Second
	return res
}

func exec(t *testing.T, sql string) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), sql); err != nil {
		t.Fatal(err)
	}
}

func randHex() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// tempRole creates a cluster-wide role for one test, dropped at cleanup.
func tempRole(t *testing.T, attrs, grant string) string {
	t.Helper()
	name := "pgexec_" + randHex()
	roleResource(t) // its tables
	exec(t, "CREATE ROLE "+name+" "+attrs+"; "+strings.ReplaceAll(grant, "$ROLE", name))
	t.Cleanup(func() {
		exec(t, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '"+name+"'; DROP OWNED BY "+name+"; DROP ROLE "+name)
	})
	return name
}

func denialCode(t *testing.T, err error) grants.Code {
	t.Helper()
	d, ok := grants.AsDenial(err)
	if !ok {
		t.Fatalf("want a denial, got %v", err)
	}
	return d.Code
}

func TestSetLocalRole(t *testing.T) {
	e := New()
	defer e.Close()
	ctx := context.Background()
	reader := tempRole(t, "NOLOGIN", "GRANT SELECT ON open_t TO $ROLE")
	out, err := e.Run(ctx, roleResource(t), Query{SQL: "SELECT current_user, (SELECT count(*) FROM open_t)", Privilege: grants.Read, MaxRows: 10, Role: reader})
	if err != nil {
		t.Fatal(err)
	}
	if out.Rows[0][0] != reader {
		t.Errorf("ran as %v, want %s", out.Rows[0][0], reader)
	}
	_, err = e.Run(ctx, roleResource(t), Query{SQL: "SELECT * FROM closed_t", Privilege: grants.Read, MaxRows: 10, Role: reader})
	var qe *QueryError
	if !errors.As(err, &qe) || qe.SQLState != "42501" || qe.Code != grants.CodeOutOfScope {
		t.Errorf("a table the mapped role may not read: %v", err)
	}
	// The role is assumed for the transaction only: the pooled connection
	// is keyhole's again afterwards.
	out, err = e.Run(ctx, roleResource(t), Query{SQL: "SELECT current_user", Privilege: grants.Read, MaxRows: 10})
	if err != nil || out.Rows[0][0] == reader {
		t.Errorf("the role leaked to the next query: %v %v", out, err)
	}
	_, err = e.Run(ctx, roleResource(t), Query{SQL: "SELECT 1", Privilege: grants.Read, MaxRows: 10, Role: "no_such_role_" + randHex()})
	if c := denialCode(t, err); c != grants.CodeUnavailable || !strings.Contains(err.Error(), "config check --connect") {
		t.Errorf("an unusable mapped role: %v", err)
	}
}

// grantPool is a pool that logs in as a fresh role, as a grant's would.
func grantPool(t *testing.T, attrs string) (*pgxpool.Pool, string) {
	t.Helper()
	role := tempRole(t, "LOGIN "+attrs, "GRANT SELECT ON open_t TO $ROLE")
	u, _ := url.Parse(dsn)
	u.User = url.User(role)
	pool, err := pgxpool.New(context.Background(), u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool, role
}

func TestTerminatedSessionOfAnEndedGrant(t *testing.T) {
	e := New()
	defer e.Close()
	pool, role := grantPool(t, "")
	revoked := grants.Deny(grants.CodeGrantRevoked, "grant g_1 was revoked by alice")
	var ended atomic.Bool
	res := roleResource(t)
	errc := make(chan error, 1)
	go func() {
		_, err := e.Run(context.Background(), res, Query{SQL: "SELECT pg_sleep(60)", Privilege: grants.Read, MaxRows: 1, Pool: pool,
			Ended: func(context.Context) error {
				if ended.Load() {
					return revoked
				}
				return nil
			}})
		errc <- err
	}()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var n int
		_ = conn.QueryRow(context.Background(), "SELECT count(*) FROM pg_stat_activity WHERE usename = $1 AND state = 'active'", role).Scan(&n)
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the query never ran")
		}
	}
	ended.Store(true) // the store says so before keyhole terminates the role's sessions
	if _, err := conn.Exec(context.Background(), "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", role); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; denialCode(t, err) != grants.CodeGrantRevoked {
		t.Errorf("want GRANT_REVOKED, got %v", err)
	}
}

func TestGrantDeadlineIsGrantExpired(t *testing.T) {
	e := New()
	defer e.Close()
	_, err := e.Run(context.Background(), roleResource(t), Query{SQL: "SELECT pg_sleep(60)", Privilege: grants.Read, MaxRows: 1,
		Deadline: time.Now().Add(200 * time.Millisecond)})
	if denialCode(t, err) != grants.CodeGrantExpired {
		t.Errorf("want GRANT_EXPIRED, got %v", err)
	}
}

// A role that may open no connection (its CONNECTION LIMIT, or a server at
// max_connections) gets a clear UNAVAILABLE at once, not a hang.
func TestNoFreeConnection(t *testing.T) {
	e := New()
	defer e.Close()
	pool, _ := grantPool(t, "CONNECTION LIMIT 0")
	_, err := e.Run(context.Background(), roleResource(t), Query{SQL: "SELECT 1", Privilege: grants.Read, MaxRows: 1, Pool: pool,
		Ended: func(context.Context) error { return nil }})
	var qe *QueryError
	if !errors.As(err, &qe) || qe.Code != grants.CodeUnavailable || qe.SQLState != "53300" || !strings.Contains(qe.Message, "no free database connection") {
		t.Errorf("want UNAVAILABLE with SQLSTATE 53300, got %v", err)
	}
}
