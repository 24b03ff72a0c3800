package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/keyholehq/keyhole/internal/testdb"
)

// The end-to-end tests run keyhole as a real child process over real stdio
// — the test binary re-executed as keyhole, so the race detector covers it —
// against real PostgreSQL, driven by the official MCP Go SDK client.

const execEnv = "KEYHOLE_E2E_EXEC"

var shopDSN string // the package's database, with a password that must never leak

// secretPassword is put into the DSN keyhole gets; PostgreSQL's trust
// authentication ignores it, and no output may ever contain it.
const secretPassword = "s3cr3t-Pa55word-4e2e"

func TestMain(m *testing.M) {
	if os.Getenv(execEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(testdb.Main(m, func(db *testdb.DB) {
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
		u, _ := url.Parse(db.DSN)
		if _, has := u.User.Password(); !has {
			u.User = url.UserPassword(u.User.Username(), secretPassword)
		}
		shopDSN = u.String()
	}))
}

const testConfig = `trust_domain: test.keyhole.local
data_dir: %s
resources:
  shop:
    description: test shop
    dsn: ${KEYHOLE_E2E_DSN}
    enforcement: gate-only
    tables:
      public.orders: {}
      public.customers: {columns: [id, name, region, created_at]}
    limits: {max_rows: 5, max_result_bytes: 64KiB, statement_timeout: 2s}
  tiny:
    dsn: ${KEYHOLE_E2E_DSN}
    enforcement: gate-only
    tables:
      public.orders: {}
    limits: {max_result_bytes: 300, statement_timeout: 300ms}
  down:
    dsn: ${KEYHOLE_E2E_DOWN_DSN}
    enforcement: gate-only
    tables:
      public.orders: {}
agents:
  analytics-*:
    allow:
      - {resource: shop, privileges: [read], max_duration: 15m, approval: auto}
      - {resource: shop, privileges: [write], tables: [public.orders], max_duration: 5m, approval: admin}
      - {resource: tiny, privileges: [read], approval: auto}
      - {resource: down, privileges: [read], approval: auto}
  writer:
    allow:
      - {resource: shop, privileges: [write], tables: [public.orders], approval: auto}
audit:
  file: ${data_dir}/audit.jsonl
  results: digest
  fsync: always
`

// env is one keyhole deployment: a data dir and a config file.
type env struct {
	dir, config string
	childEnv    []string    // environment every child gets besides the test's own
	stderr      *syncBuffer // every child's log, for the secret check
}

func newEnv(t testing.TB) *env {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "keyhole.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(testConfig, filepath.Join(dir, "data"))), 0o600); err != nil {
		t.Fatal(err)
	}
	return &env{dir: dir, config: cfg, stderr: &syncBuffer{}, childEnv: []string{"KEYHOLE_E2E_DSN=" + shopDSN,
		"KEYHOLE_E2E_DOWN_DSN=postgres://nobody:" + secretPassword + "@127.0.0.1:1/none?sslmode=disable&connect_timeout=2"}}
}

// session is one keyhole process and the SDK client session talking to it.
type session struct {
	t  testing.TB
	cs *mcp.ClientSession
}

func (e *env) start(t testing.TB, agent string) *session {
	t.Helper()
	s, _ := e.startChild(t, agent)
	return s
}

// startChild starts keyhole as a child process (the test binary run again,
// with extra environment variables) and connects an SDK client to it.
func (e *env) startChild(t testing.TB, agent string, extraEnv ...string) (*session, *exec.Cmd) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "serve", "--stdio", "--config", e.config, "--agent", agent)
	cmd.Env = append(append(append(os.Environ(), execEnv+"=1"), e.childEnv...), extraEnv...)
	cmd.Stderr = e.stderr
	client := mcp.NewClient(&mcp.Implementation{Name: "e2e-client", Version: "0.0.1"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cs, err := client.Connect(ctx, &mcp.CommandTransport{Command: cmd}, nil)
	if err != nil {
		t.Fatalf("connect: %v\nstderr:\n%s", err, e.stderr)
	}
	s := &session{t: t, cs: cs}
	t.Cleanup(func() { s.close() })
	return s, cmd
}

func (s *session) close() {
	if s.cs != nil {
		_ = s.cs.Close()
		s.cs = nil
	}
}

// result is a tool result reduced to what tests check.
type result struct {
	isError bool
	text    string
	data    map[string]any
}

func (r result) code() string {
	if e, ok := r.data["error"].(map[string]any); ok {
		c, _ := e["code"].(string)
		return c
	}
	return ""
}

func (s *session) call(tool string, args any) result {
	s.t.Helper()
	return s.callCtx(context.Background(), tool, args)
}

func (s *session) callCtx(ctx context.Context, tool string, args any) result {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	res, err := s.cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		s.t.Fatalf("%s: %v", tool, err)
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

// ok calls a tool that must succeed.
func (s *session) ok(tool string, args any) result {
	s.t.Helper()
	r := s.call(tool, args)
	if r.isError {
		s.t.Fatalf("%s %v: unexpected refusal: %s", tool, args, r.text)
	}
	return r
}

// refused calls a tool that must be refused with code.
func (s *session) refused(code, tool string, args any) result {
	s.t.Helper()
	r := s.call(tool, args)
	if !r.isError || r.code() != code {
		s.t.Fatalf("%s %v: want refusal %s, got isError=%v code=%q: %s", tool, args, code, r.isError, r.code(), r.text)
	}
	if !strings.HasPrefix(r.text, code+": ") {
		s.t.Errorf("refusal text should start with its code: %q", r.text)
	}
	return r
}

func (s *session) grantRead(tables ...string) string {
	s.t.Helper()
	r := s.ok("request_access", map[string]any{"resource": "shop", "privilege": "read", "tables": tables,
		"duration": "10m", "justification": "e2e test"})
	id, _ := r.data["grant_id"].(string)
	if r.data["status"] != "granted" || id == "" {
		s.t.Fatalf("request_access: %v", r.data)
	}
	return id
}

func q(sql string, args ...any) map[string]any {
	m := map[string]any{"resource": "shop", "sql": sql}
	if len(args) > 0 {
		m["params"] = args
	}
	return m
}

func TestDemoFlow(t *testing.T) {
	e := newEnv(t)
	s := e.start(t, "analytics-e2e")

	r := s.ok("list_resources", map[string]any{})
	if !strings.Contains(r.text, "public.customers(id integer, name text, region text, created_at timestamp with time zone)") {
		t.Errorf("list_resources should show grantable columns with types, not email/ssn:\n%s", r.text)
	}
	if strings.Contains(r.text, "ssn") || strings.Contains(r.text, "payment_secrets") {
		t.Errorf("list_resources leaks ungrantable columns or tables:\n%s", r.text)
	}

	s.refused("NO_GRANT", "database_query", q("SELECT count(*) FROM orders"))

	grant := s.grantRead("public.orders", "public.customers(id, name, region)")

	r = s.ok("database_query", map[string]any{"resource": "shop", "purpose": "e2e revenue",
		"sql":    "SELECT c.region, count(*) AS n, sum(o.total) AS revenue, min(o.created_at) AS first, bool_and(o.total > 0) AS positive FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.created_at >= $1 GROUP BY c.region ORDER BY revenue DESC",
		"params": []any{"2024-03-01"}})
	if r.data["grant_id"] != grant || r.data["row_count"] != float64(3) {
		t.Fatalf("query result: %v", r.data)
	}
	rows := r.data["rows"].([]any)
	first := rows[0].([]any)
	if first[0] != "us" || first[1] != float64(4) || first[2] != 1106.85 || first[3] != "2024-03-03T11:00:00Z" || first[4] != true {
		t.Errorf("JSON typing: first row %#v", first)
	}
	if !strings.Contains(r.text, "untrusted data") || !strings.Contains(r.text, "<untrusted-data-") {
		t.Errorf("rows must be fenced as untrusted data:\n%s", r.text)
	}

	s.refused("OUT_OF_SCOPE", "database_query", q("SELECT * FROM payment_secrets"))
	s.refused("OUT_OF_SCOPE", "database_query", q("SELECT email FROM customers"))
	s.refused("WRITE_NOT_GRANTED", "database_query", q("DELETE FROM orders WHERE id = 108"))

	r = s.ok("release_access", map[string]any{"all": true})
	if rel := r.data["released"].([]any); len(rel) != 1 || rel[0] != grant {
		t.Errorf("released %v, want [%s]", rel, grant)
	}
	r = s.refused("NO_GRANT", "database_query", q("SELECT count(*) FROM orders"))
	if !strings.Contains(r.text, "released") {
		t.Errorf("the refusal should say the grant was released: %s", r.text)
	}
	s.refused("NO_GRANT", "database_query", map[string]any{"resource": "shop", "sql": "SELECT 1", "grant_id": grant})
	s.close()

	// The trail holds the whole session, chained, decision before effect.
	events := readTrail(t, filepath.Join(e.dir, "data", "audit.jsonl"))
	var names []string
	for _, ev := range events {
		if ev["event"] != "checkpoint" {
			names = append(names, ev["event"].(string))
		}
	}
	want := "session.start query.denied access.request access.granted query.allowed query.completed query.denied query.denied query.denied access.released query.denied query.denied session.end"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("audit events:\n got %s\nwant %s", got, want)
	}
	for _, ev := range events {
		if ev["event"] == "query.allowed" {
			if ev["purpose"] != "e2e revenue" || ev["grant"] != grant {
				t.Errorf("query.allowed lacks prompt context or grant: %v", ev)
			}
			qy := ev["query"].(map[string]any)
			if qy["fingerprint"] == "" || qy["sql"] == "" {
				t.Errorf("query.allowed lacks sql or fingerprint: %v", qy)
			}
		}
		if ev["event"] == "session.start" {
			if ev["identity"] == "" || ev["agent"] != "analytics-e2e" {
				t.Errorf("session.start lacks the signed identity: %v", ev)
			}
			if c, _ := ev["client"].(map[string]any); c["name"] != "e2e-client" {
				t.Errorf("session.start lacks client info: %v", ev["client"])
			}
			p, _ := ev["principal"].(map[string]any)
			if p["kind"] != "os" || p["parent_pid"] == nil {
				t.Errorf("session.start principal: %v", p)
			}
		}
	}
	assertNoSecret(t, e)
}

func readTrail(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("audit line is not JSON: %q", line)
		}
		out = append(out, m)
	}
	return out
}

// assertNoSecret checks logs, audit and state for the DSN password.
func assertNoSecret(t *testing.T, e *env) {
	t.Helper()
	u, _ := url.Parse(shopDSN)
	pw, _ := u.User.Password()
	places := map[string][]byte{"stderr log": e.stderr.Bytes()}
	_ = filepath.Walk(e.dir, func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && filepath.Base(path) != "keyhole.yaml" {
			b, _ := os.ReadFile(path)
			places[path] = b
		}
		return nil
	})
	for where, b := range places {
		for _, secret := range []string{pw, secretPassword} {
			if secret != "" && bytes.Contains(b, []byte(secret)) {
				t.Errorf("secret found in %s", where)
			}
		}
	}
}

func TestErrorCodes(t *testing.T) {
	e := newEnv(t)
	s := e.start(t, "analytics-codes")

	// Requests.
	s.refused("INVALID_ARGUMENT", "request_access", map[string]any{"resource": "shop", "privilege": "read", "tables": []string{"public.orders"}, "justification": " "})
	s.refused("INVALID_ARGUMENT", "request_access", map[string]any{"resource": "shop", "privilege": "read", "tables": []string{"public.orders"}, "justification": "x", "surprise": 1})
	s.refused("POLICY_DENIED", "request_access", map[string]any{"resource": "nope", "privilege": "read", "tables": []string{"public.orders"}, "justification": "x"})
	s.refused("POLICY_DENIED", "request_access", map[string]any{"resource": "shop", "privilege": "write", "tables": []string{"public.orders"}, "justification": "x"})
	s.refused("OUT_OF_SCOPE", "request_access", map[string]any{"resource": "shop", "privilege": "read", "tables": []string{"public.customers(id, ssn)"}, "justification": "x"})
	s.refused("OUT_OF_SCOPE", "request_access", map[string]any{"resource": "shop", "privilege": "read", "tables": []string{"public.payment_secrets"}, "justification": "x"})
	r := s.ok("request_access", map[string]any{"resource": "shop", "privilege": "read", "tables": []string{"public.customers"}, "duration": "2h", "justification": "x"})
	if !strings.Contains(r.text, "capped at 15m0s") || !strings.Contains(r.text, "narrowed") {
		t.Errorf("the answer should say the duration was capped and the columns narrowed: %s", r.text)
	}
	s.grantRead("public.orders")

	// The SQL gate.
	s.refused("MULTIPLE_STATEMENTS", "database_query", q("SELECT 1; SELECT 2"))
	s.refused("MULTIPLE_STATEMENTS", "database_query", q("COMMIT; DELETE FROM orders"))
	s.refused("PARSE_ERROR", "database_query", q("SELEKT * FROM orders"))
	s.refused("FORBIDDEN_STATEMENT", "database_query", q("DROP TABLE orders"))
	s.refused("FORBIDDEN_FUNCTION", "database_query", q("SELECT pg_read_file('/etc/passwd')"))
	s.refused("WRITE_NOT_GRANTED", "database_query", q("WITH d AS (DELETE FROM orders RETURNING *) SELECT * FROM d"))
	s.refused("INVALID_ARGUMENT", "database_query", map[string]any{"resource": "shop"})

	// Limits.
	r = s.ok("database_query", q("SELECT id FROM orders ORDER BY id"))
	if r.data["row_count"] != float64(5) || r.data["truncated"] != true {
		t.Errorf("max_rows 5 should truncate 10 orders: %v", r.data)
	}
	r = s.ok("database_query", map[string]any{"resource": "shop", "sql": "SELECT id FROM orders", "max_rows": 2})
	if r.data["row_count"] != float64(2) {
		t.Errorf("the agent's max_rows should apply under the limit: %v", r.data)
	}
	tiny := s.ok("request_access", map[string]any{"resource": "tiny", "privilege": "read", "tables": []string{"public.orders"}, "justification": "x"})
	_ = tiny
	s.refused("RESULT_TOO_LARGE", "database_query", map[string]any{"resource": "tiny", "sql": "SELECT * FROM orders"})
	s.refused("TIMEOUT", "database_query", map[string]any{"resource": "tiny",
		"sql": "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t) SELECT count(*) FROM t"})
	s.ok("request_access", map[string]any{"resource": "down", "privilege": "read", "tables": []string{"public.orders"}, "justification": "x"})
	s.refused("UNAVAILABLE", "database_query", map[string]any{"resource": "down", "sql": "SELECT 1"})

	// A SQL error is reported with its SQLSTATE and does not break the session.
	r = s.refused("QUERY_FAILED", "database_query", q("SELECT 1/0 FROM orders"))
	if !strings.Contains(r.text, "22012") {
		t.Errorf("SQL errors should carry their SQLSTATE: %s", r.text)
	}
	s.ok("database_query", q("SELECT count(*) FROM orders"))
	assertNoSecret(t, e)
}

func TestGrantExpires(t *testing.T) {
	e := newEnv(t)
	s := e.start(t, "analytics-exp")
	r := s.ok("request_access", map[string]any{"resource": "shop", "privilege": "read", "tables": []string{"public.orders"}, "duration": "1s", "justification": "x"})
	grant := r.data["grant_id"].(string)
	time.Sleep(1100 * time.Millisecond) // past exp: the grant's own validity, not a timing assertion
	s.refused("GRANT_EXPIRED", "database_query", map[string]any{"resource": "shop", "sql": "SELECT 1", "grant_id": grant})
	s.refused("GRANT_EXPIRED", "database_query", q("SELECT 1"))
}

func TestGrantFromAnotherSessionIsRefused(t *testing.T) {
	e := newEnv(t)
	a := e.start(t, "analytics-a")
	grant := a.grantRead("public.orders")
	b := e.start(t, "analytics-b")
	b.refused("GRANT_NOT_YOURS", "database_query", map[string]any{"resource": "shop", "sql": "SELECT 1", "grant_id": grant})
	// Even the same agent name in another session cannot use it.
	c := e.start(t, "analytics-a")
	c.refused("GRANT_NOT_YOURS", "database_query", map[string]any{"resource": "shop", "sql": "SELECT 1", "grant_id": grant})
	c.refused("NO_GRANT", "release_access", map[string]any{"grant_id": grant})
	a.ok("database_query", map[string]any{"resource": "shop", "sql": "SELECT 1", "grant_id": grant})
}

func TestRevokedGrant(t *testing.T) {
	e := newEnv(t)
	s := e.start(t, "analytics-rev")
	grant := s.grantRead("public.orders")
	t.Setenv("KEYHOLE_E2E_DSN", shopDSN)
	t.Setenv("KEYHOLE_E2E_DOWN_DSN", "postgres://x@127.0.0.1:1/x")
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"grants", "revoke", "--config", e.config, "--by", "alice", grant}, nil, &out, &errb); err != nil {
		t.Fatalf("revoke: %v\n%s", err, errb.String())
	}
	r := s.refused("GRANT_REVOKED", "database_query", q("SELECT 1"))
	if !strings.Contains(r.text, "alice") {
		t.Errorf("the refusal should name who revoked: %s", r.text)
	}
}

func TestTamperedGrantIsRefused(t *testing.T) {
	e := newEnv(t)
	s := e.start(t, "analytics-tamper")
	grant := s.grantRead("public.customers(id)")
	// An attacker with write access to the state file widens the stored grant.
	db := filepath.Join(e.dir, "data", "state.db")
	tamper(t, db, grant)
	r := s.refused("NO_GRANT", "database_query", q("SELECT email FROM customers"))
	if !strings.Contains(r.text, "verification") {
		t.Errorf("want a verification failure: %s", r.text)
	}
}

// tamper rewrites a stored grant token's payload to cover every column and
// re-encodes it, keeping the original signature.
func tamper(t *testing.T, dbPath, grant string) {
	t.Helper()
	st := openStore(t, dbPath)
	tok := st.token(grant)
	parts := strings.Split(tok, ".")
	payload, err := b64.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	forged := bytes.Replace(payload, []byte(`,"columns":["id"]`), nil, 1)
	if bytes.Equal(forged, payload) {
		t.Fatalf("payload has no column list to widen: %s", payload)
	}
	parts[1] = b64.EncodeToString(forged)
	st.setToken(grant, strings.Join(parts, "."))
}

func TestCancelStopsQueryInPostgres(t *testing.T) {
	e := newEnv(t)
	s := e.start(t, "analytics-cancel")
	s.grantRead("public.orders")
	ctx, cancel := context.WithCancel(context.Background())
	marker := fmt.Sprintf("cancel_marker_%d", time.Now().UnixNano())
	sql := "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 100000000) SELECT count(*) AS " + marker + " FROM t"
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = s.cs.CallTool(ctx, &mcp.CallToolParams{Name: "database_query", Arguments: q(sql)})
	}()
	conn, err := pgx.Connect(context.Background(), testdb.AdminDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	running := func() int {
		var n int
		if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%'||$1||'%' AND state = 'active' AND pid <> pg_backend_pid()", marker).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	waitFor(t, "the query to start in PostgreSQL", func() bool { return running() == 1 })
	cancel()
	<-done
	waitFor(t, "the query to be cancelled in PostgreSQL", func() bool { return running() == 0 })
}

// waitFor polls cond up to a generous bound; it asserts an outcome, not a speed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestStdoutCarriesOnlyMCP speaks raw JSON-RPC to keyhole and checks that
// every line on stdout is a JSON-RPC message.
func TestStdoutCarriesOnlyMCP(t *testing.T) {
	e := newEnv(t)
	cmd := exec.Command(os.Args[0], "serve", "--stdio", "--config", e.config, "--agent", "analytics-raw")
	cmd.Env = append(append(os.Environ(), execEnv+"=1"), e.childEnv...)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	msgs := []string{
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`,
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
		`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`,
		`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"database_query","arguments":{"resource":"shop","sql":"SELECT 1"}}}`,
	}
	for _, m := range msgs {
		fmt.Fprintln(stdin, m)
	}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	seen := map[float64]map[string]any{}
	for len(seen) < 3 && sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil || m["jsonrpc"] != "2.0" {
			t.Fatalf("stdout line is not JSON-RPC: %q", sc.Text())
		}
		if id, ok := m["id"].(float64); ok {
			seen[id] = m
		}
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Errorf("keyhole exit: %v\n%s", err, stderr.String())
	}
	toolsList, _ := json.Marshal(seen[2])
	for _, want := range []string{`"readOnlyHint":true`, `"destructiveHint":true`, `"openWorldHint":true`, `"outputSchema"`} {
		if !bytes.Contains(toolsList, []byte(want)) {
			t.Errorf("tools/list lacks %s", want)
		}
	}
	checkAnnotations(t, seen[2])
	golden(t, "tools_list.json", seen[2]["result"])
	if !bytes.Contains(must(json.Marshal(seen[3])), []byte("NO_GRANT")) {
		t.Errorf("tools/call: %v", seen[3])
	}
	// Logs are JSON lines on stderr.
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		if line != "" && !json.Valid([]byte(line)) {
			t.Errorf("stderr line is not slog JSON: %q", line)
		}
	}
}

func checkAnnotations(t *testing.T, msg map[string]any) {
	t.Helper()
	want := map[string][4]bool{ // readOnly, destructive, idempotent, openWorld
		"list_resources": {true, false, true, false},
		"request_access": {false, false, false, false},
		"database_query": {false, true, false, true},
		"release_access": {false, false, true, false},
	}
	res := msg["result"].(map[string]any)
	for _, tl := range res["tools"].([]any) {
		tool := tl.(map[string]any)
		a := tool["annotations"].(map[string]any)
		w := want[tool["name"].(string)]
		got := [4]bool{a["readOnlyHint"] == true, a["destructiveHint"] == true, a["idempotentHint"] == true, a["openWorldHint"] == true}
		for i, k := range []string{"readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"} {
			if _, set := a[k]; !set {
				t.Errorf("%s: %s not set explicitly", tool["name"], k)
			}
			_ = i
		}
		if got != w {
			t.Errorf("%s annotations = %v, want %v", tool["name"], got, w)
		}
	}
}

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// golden compares v, as indented JSON, with testdata/name: the tool
// contract an agent sees is pinned, and changes to it show up in review.
func golden(t *testing.T, name string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s changed; if intended, run go test ./cmd/keyhole -run %s -update\n got:\n%s", path, t.Name(), got)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// syncBuffer is a bytes.Buffer safe for a child's stderr and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

func (s *syncBuffer) String() string { return string(s.Bytes()) }

var _ io.Writer = (*syncBuffer)(nil)
