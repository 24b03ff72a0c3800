package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/keyholehq/keyhole/grants/pgroles"
)

// The ephemeral-role tests run keyhole as a role with CREATEROLE and grant
// options only — the setup the README documents — under a role prefix of
// their own, so that no other test's roles are ever reaped.
const rolesConfig = `trust_domain: test.keyhole.local
data_dir: %s
resources:
  shop:
    dsn: ${KEYHOLE_E2E_ROLES_DSN}
    enforcement: ephemeral-role
    role_prefix: %s
    tables:
      public.orders: {}
      public.customers: {columns: [id, name, region, created_at]}
    limits: {max_rows: 5, statement_timeout: 60s}
agents:
  analytics-*:
    allow:
      - {resource: shop, privileges: [read], max_duration: 15m, approval: auto}
audit:
  file: ${data_dir}/audit.jsonl
  fsync: always
`

type rolesEnv struct {
	*env
	prefix  string
	keyhole string // keyhole's own PostgreSQL role
	admin   *pgx.Conn
}

func newRolesEnv(t *testing.T) *rolesEnv {
	t.Helper()
	suffix := randSuffix()[:6]
	re := &rolesEnv{prefix: "te" + suffix + "_", keyhole: "khe2e_" + suffix}
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, shopDSN)
	if err != nil {
		t.Fatal(err)
	}
	re.admin = admin
	_, err = admin.Exec(ctx, fmt.Sprintf(`CREATE ROLE %[1]s LOGIN CREATEROLE;
		GRANT USAGE ON SCHEMA public TO %[1]s WITH GRANT OPTION;
		GRANT SELECT ON orders, customers TO %[1]s WITH GRANT OPTION;`, re.keyhole))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		_, _ = admin.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", re.keyhole)
		if _, err := admin.Exec(ctx, fmt.Sprintf("DROP OWNED BY %[1]s; DROP ROLE %[1]s", re.keyhole)); err != nil {
			t.Errorf("cleanup: %v (roles left: %v)", err, re.roles(t))
		}
		admin.Close(ctx)
	})
	u, _ := url.Parse(shopDSN)
	u.User = url.UserPassword(re.keyhole, secretPassword)
	t.Setenv("KEYHOLE_E2E_ROLES_DSN", u.String())

	dir := t.TempDir()
	cfg := filepath.Join(dir, "keyhole.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(rolesConfig, filepath.Join(dir, "data"), re.prefix)), 0o600); err != nil {
		t.Fatal(err)
	}
	re.env = &env{dir: dir, config: cfg, stderr: &syncBuffer{}}
	return re
}

// roleOf is the PostgreSQL role of a grant, from the shared state file.
func (re *rolesEnv) roleOf(t *testing.T, grant string) string {
	t.Helper()
	return pgroles.RoleName(re.prefix, openStore(t, filepath.Join(re.dir, "data", "state.db")).token(grant))
}

func (re *rolesEnv) exists(t *testing.T, role string) bool {
	t.Helper()
	var ok bool
	if err := re.admin.QueryRow(context.Background(), "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", role).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	return ok
}

func (re *rolesEnv) roles(t *testing.T) []string {
	rows, err := re.admin.Query(context.Background(), "SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1)", re.prefix)
	if err != nil {
		return nil
	}
	names, _ := pgx.CollectRows(rows, pgx.RowTo[string])
	return names
}

func (re *rolesEnv) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := re.admin.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestEphemeralRoleEndToEnd(t *testing.T) {
	re := newRolesEnv(t)
	s, _ := re.startChild(t, "analytics-roles")
	grant := s.grantRead("public.orders", "public.customers(id, region)")
	role := re.roleOf(t, grant)
	if !re.exists(t, role) {
		t.Fatalf("no role %s for grant %s", role, grant)
	}
	r := s.ok("database_query", q("SELECT c.region, count(*) FROM orders o JOIN customers c ON c.id = o.customer_id GROUP BY 1 ORDER BY 1"))
	if r.data["row_count"] != float64(3) {
		t.Errorf("query: %v", r.data)
	}
	// PostgreSQL's own view names the role and the agent, session and grant.
	if n := re.count(t, "SELECT count(*) FROM pg_stat_activity WHERE usename = $1 AND application_name LIKE 'keyhole '||$2||' % analytics-roles'", role, grant); n != 1 {
		t.Errorf("pg_stat_activity shows %d sessions of %s naming the grant", n, role)
	}

	// An admin revokes the grant while a long query runs: the query is
	// cancelled in PostgreSQL and the agent is told why.
	marker := "revoke_marker_" + strings.ToLower(grant)
	done := make(chan result, 1)
	go func() {
		done <- callAsync(s, "database_query", q("WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t) SELECT count(*) AS "+marker+" FROM t"))
	}()
	waitFor(t, "the long query to run", func() bool {
		return re.count(t, "SELECT count(*) FROM pg_stat_activity WHERE usename = $1 AND state = 'active'", role) == 1
	})
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"grants", "revoke", "--config", re.config, "--by", "alice", grant}, nil, &out, &errb); err != nil {
		t.Fatalf("revoke: %v\n%s", err, errb.String())
	}
	if !strings.Contains(out.String(), "ended its database role and sessions") {
		t.Errorf("revoke output: %s%s", out.String(), errb.String())
	}
	r = <-done
	if r.code() != "GRANT_REVOKED" || !strings.Contains(r.text, "alice") {
		t.Errorf("the running query should be refused GRANT_REVOKED naming alice: %s", r.text)
	}
	if re.exists(t, role) {
		t.Error("the revoked grant's role survived")
	}

	// Release ends the next grant's role.
	grant = s.grantRead("public.orders")
	role = re.roleOf(t, grant)
	s.ok("database_query", q("SELECT count(*) FROM orders"))
	s.ok("release_access", map[string]any{"all": true})
	if re.exists(t, role) {
		t.Error("the released grant's role survived")
	}

	// The end of the session ends the last one's.
	grant = s.grantRead("public.orders")
	role = re.roleOf(t, grant)
	s.close()
	waitFor(t, "the session's role to be dropped", func() bool { return !re.exists(t, role) })
	assertNoSecret(t, re.env)
}

// A grant expires under a running query: PostgreSQL cancels the query and
// the agent hears GRANT_EXPIRED, then the role is gone, without any call.
func TestGrantExpiryCancelsRunningQuery(t *testing.T) {
	re := newRolesEnv(t)
	s, _ := re.startChild(t, "analytics-expiry")
	r := s.ok("request_access", map[string]any{"resource": "shop", "privilege": "read", "tables": []string{"public.orders"},
		"duration": "3s", "justification": "expiry e2e"})
	grant := r.data["grant_id"].(string)
	role := re.roleOf(t, grant)
	r = s.call("database_query", q("WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t) SELECT count(*) FROM t"))
	if r.code() != "GRANT_EXPIRED" {
		t.Errorf("a query running at expiry: %s", r.text)
	}
	waitFor(t, "the expired grant's role to be dropped", func() bool { return !re.exists(t, role) })
	if n := re.count(t, "SELECT count(*) FROM pg_stat_activity WHERE usename = $1", role); n != 0 {
		t.Errorf("%d sessions of the expired role remain", n)
	}
}

// A keyhole killed with kill -9 leaves its roles behind (their grants are
// still active in the store); the next start reaps them.
func TestKilledKeyholesRolesAreReapedAtNextStart(t *testing.T) {
	re := newRolesEnv(t)
	s, cmd := re.startChild(t, "analytics-killed")
	grant := s.grantRead("public.orders")
	s.ok("database_query", q("SELECT count(*) FROM orders"))
	role := re.roleOf(t, grant)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	s.close() // the client reaps the process
	// PostgreSQL notices the dead connections (the kernel closed them).
	waitFor(t, "the killed keyhole's connections to close", func() bool {
		return re.count(t, "SELECT count(*) FROM pg_stat_activity WHERE usename = $1 OR usename = $2", re.keyhole, role) == 0
	})
	if !re.exists(t, role) {
		t.Fatal("the role should have outlived a keyhole killed with kill -9")
	}
	re.startChild(t, "analytics-next")
	waitFor(t, "the next keyhole to reap the role", func() bool { return !re.exists(t, role) })
}

// callAsync is session.call for a goroutine: a transport failure becomes a
// result with the error as its text instead of ending the test from there.
func callAsync(s *session, tool string, args any) result {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := s.cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		return result{isError: true, text: err.Error()}
	}
	var r result
	r.isError = res.IsError
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			r.text += tc.Text
		}
	}
	b, _ := json.Marshal(res.StructuredContent)
	_ = json.Unmarshal(b, &r.data)
	return r
}
