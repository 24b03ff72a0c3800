package tools

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyholehq/keyhole/audit"
	"github.com/keyholehq/keyhole/config"
	"github.com/keyholehq/keyhole/grants"
	"github.com/keyholehq/keyhole/grants/pgexec"
	"github.com/keyholehq/keyhole/grants/sqlitestore"
	"github.com/keyholehq/keyhole/internal/testdb"
)

var testDB *testdb.DB

func TestMain(m *testing.M) {
	os.Exit(testdb.Main(m, func(db *testdb.DB) {
		testDB = db
		for _, f := range []string{"schema.sql", "seed.sql"} {
			sql, err := os.ReadFile(filepath.Join("..", "examples", "demo", f))
			if err != nil {
				panic(err)
			}
			if err := db.Exec(context.Background(), string(sql)); err != nil {
				panic(err)
			}
		}
	}))
}

// fakeClock is the injectable clock every grant check uses.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fixture is a Service wired to real parts: keys, SQLite store, audit trail,
// PostgreSQL; only the clock is fake.
type fixture struct {
	svc   *Service
	clock *fakeClock
	trail string
	sess  *Session
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	dir := t.TempDir()
	cfgText := `data_dir: ` + dir + `
resources:
  shop:
    dsn: ` + testDB.DSN + `
    enforcement: gate-only
    tables:
      public.orders: {}
      public.customers: {columns: [id, name, region]}
agents:
  analytics-*:
    allow:
      - {resource: shop, privileges: [read], max_duration: 15m}
audit: {fsync: always}
`
	w := wire(t, dir, cfgText, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	sid := grants.NewSessionID()
	sess := &Session{Identity: grants.SessionIdentity{ID: sid, Agent: "analytics-unit",
		SPIFFE: grants.SPIFFEID("keyhole.local", "analytics-unit", sid)}}
	return &fixture{svc: New(w.cfg, w.gm, w.exec, w.trail, nil), clock: w.clock, trail: w.trailPath, sess: sess}
}

// wired is a Service's real parts — config, keys, SQLite store, audit trail
// (fsync always), executor — with only the clock fake.
type wired struct {
	cfg       *config.Config
	gm        *grants.Manager
	store     *sqlitestore.Store
	exec      *pgexec.Executor
	trail     *audit.Log
	trailPath string
	clock     *fakeClock
}

// wire builds the parts in dir; they are closed at the end of the test.
func wire(t testing.TB, dir, cfgText string, start time.Time) *wired {
	t.Helper()
	cfg, err := config.Parse(strings.NewReader(cfgText), "test.yaml", func(string) (string, bool) { return "", false })
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
	trailPath := filepath.Join(dir, "audit.jsonl")
	trail, err := audit.Open(audit.Options{Path: trailPath, Fsync: audit.FsyncAlways})
	if err != nil {
		t.Fatal(err)
	}
	exec := pgexec.New()
	t.Cleanup(func() { exec.Close(); trail.Close(); store.Close() })
	clock := &fakeClock{now: start}
	gm := grants.NewManager(keys, store, "spiffe://keyhole.local/keyhole", clock.Now)
	return &wired{cfg: cfg, gm: gm, store: store, exec: exec, trail: trail, trailPath: trailPath, clock: clock}
}

func (f *fixture) call() Call { return Call{Session: f.sess} }

func wantCode(t *testing.T, err error, code grants.Code) {
	t.Helper()
	d, ok := grants.AsDenial(err)
	if !ok || d.Code != code {
		t.Fatalf("want %s, got %v", code, err)
	}
}

func (f *fixture) grant(t testing.TB, duration string) string {
	t.Helper()
	res, err := f.svc.RequestAccess(context.Background(), f.call(), RequestAccessArgs{
		Resource: "shop", Privilege: "read", Tables: []string{"public.orders"}, Duration: duration, Justification: "unit test"})
	if err != nil {
		t.Fatal(err)
	}
	return res.Structured.(*RequestAccessResult).GrantID
}

func TestExpiryIsCheckedOnEveryCallAgainstTheClock(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	id := f.grant(t, "5m")
	args := DatabaseQueryArgs{Resource: "shop", SQL: "SELECT count(*) FROM orders", GrantID: id}

	f.clock.Advance(5*time.Minute - time.Second)
	if _, err := f.svc.DatabaseQuery(ctx, f.call(), args); err != nil {
		t.Fatalf("one second before exp: %v", err)
	}
	f.clock.Advance(time.Second) // exactly exp: no longer valid
	_, err := f.svc.DatabaseQuery(ctx, f.call(), args)
	wantCode(t, err, grants.CodeGrantExpired)

	// The expiry sweep records the end once, and the grant stays refused.
	if err := f.svc.ExpireDue(ctx, func(string) *Session { return f.sess }); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.ExpireDue(ctx, func(string) *Session { return f.sess }); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.DatabaseQuery(ctx, f.call(), DatabaseQueryArgs{Resource: "shop", SQL: "SELECT 1"})
	wantCode(t, err, grants.CodeGrantExpired)
	b, _ := os.ReadFile(f.trail)
	if n := strings.Count(string(b), `"event":"access.expired"`); n != 1 {
		t.Errorf("access.expired recorded %d times, want 1", n)
	}
}

func TestDurationIsCappedByPolicy(t *testing.T) {
	f := newFixture(t)
	res, err := f.svc.RequestAccess(context.Background(), f.call(), RequestAccessArgs{
		Resource: "shop", Privilege: "read", Tables: []string{"public.orders"}, Duration: "3h", Justification: "x"})
	if err != nil {
		t.Fatal(err)
	}
	out := res.Structured.(*RequestAccessResult)
	want := f.clock.Now().Add(15 * time.Minute).Format(time.RFC3339)
	if out.ExpiresAt != want || !strings.Contains(out.Reason, "capped") {
		t.Errorf("expires_at %s (want %s), reason %q", out.ExpiresAt, want, out.Reason)
	}
}

func TestNotYetValidGrantIsRefused(t *testing.T) {
	f := newFixture(t)
	id := f.grant(t, "5m")
	f.clock.Advance(-time.Minute) // a clock that went back: the grant is not valid yet
	_, err := f.svc.DatabaseQuery(context.Background(), f.call(), DatabaseQueryArgs{Resource: "shop", SQL: "SELECT 1", GrantID: id})
	wantCode(t, err, grants.CodeNoGrant)
}

func TestAuditFailureRefusesTheCall(t *testing.T) {
	f := newFixture(t)
	f.grant(t, "5m")
	f.svc.audit = failingRecorder{}
	_, err := f.svc.DatabaseQuery(context.Background(), f.call(), DatabaseQueryArgs{Resource: "shop", SQL: "SELECT count(*) FROM orders"})
	wantCode(t, err, grants.CodeUnavailable)
}

type failingRecorder struct{}

func (failingRecorder) Record(context.Context, *audit.Event) error { return audit.ErrUnavailable }

func TestDefinitionsAreValidJSONSchemas(t *testing.T) {
	for _, d := range Definitions() {
		for what, raw := range map[string][]byte{"input": d.Input, "output": d.Output} {
			var m map[string]any
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Errorf("%s %s schema: %v", d.Name, what, err)
				continue
			}
			if m["type"] != "object" {
				t.Errorf("%s %s schema: top-level type must be object", d.Name, what)
			}
		}
	}
}

// Ending a grant cancels its running queries in every enforcement mode
// (here gate-only, where no database role ends with it).
func TestEndingAGrantCancelsItsRunningQueries(t *testing.T) {
	f := newFixture(t)
	f.svc.cfg.Resource("shop").Limits.StatementTimeout = time.Minute
	ctx := context.Background()
	forever := "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t) SELECT count(*) FROM t"

	run := func(id string) chan error {
		done := make(chan error, 1)
		go func() {
			_, err := f.svc.DatabaseQuery(ctx, f.call(), DatabaseQueryArgs{Resource: "shop", SQL: forever, GrantID: id})
			done <- err
		}()
		deadline := time.Now().Add(30 * time.Second)
		for len(f.svc.inflight.grants()) == 0 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		return done
	}

	// Released by the agent in this process.
	id := f.grant(t, "10m")
	done := run(id)
	if _, err := f.svc.ReleaseAccess(ctx, f.call(), ReleaseAccessArgs{GrantID: id}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, <-done, grants.CodeNoGrant)

	// Revoked by an admin from another process: the one-second sweep notices.
	id = f.grant(t, "10m")
	done = run(id)
	if _, err := f.svc.grants.Revoke(ctx, id, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.ExpireDue(ctx, func(string) *Session { return f.sess }); err != nil {
		t.Fatal(err)
	}
	wantCode(t, <-done, grants.CodeGrantRevoked)

	// A query authorized a moment before the release cannot start after it.
	id = f.grant(t, "10m")
	rec, err := f.svc.grants.Record(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	f.svc.inflight.end(id, rec.ExpiresAt)
	if _, _, ok := f.svc.inflight.start(ctx, id); ok {
		t.Error("a query started under a grant that had ended")
	}
}

func TestListResourcesShowsOnlyWhatTheAgentMayRequest(t *testing.T) {
	f := newFixture(t)
	f.svc.cfg.Agents[0].Allow[0].Tables = []grants.TableScope{{Table: grants.Table{Schema: "public", Name: "orders"}}}
	res, err := f.svc.ListResources(context.Background(), f.call())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(res.Text, "customers") {
		t.Errorf("a table no rule of this agent covers is listed:\n%s", res.Text)
	}
}

func TestGrantsNeverOutliveTheSessionIdentity(t *testing.T) {
	f := newFixture(t)
	f.sess.Identity.Expiry = f.clock.Now().Add(2 * time.Minute)
	res, err := f.svc.RequestAccess(context.Background(), f.call(), RequestAccessArgs{
		Resource: "shop", Privilege: "read", Tables: []string{"public.orders"}, Duration: "10m", Justification: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Structured.(*RequestAccessResult).ExpiresAt, f.clock.Now().Add(2*time.Minute).Format(time.RFC3339); got != want {
		t.Errorf("expires_at %s, want the session's expiry %s", got, want)
	}
	f.clock.Advance(2 * time.Minute)
	_, err = f.svc.RequestAccess(context.Background(), f.call(), RequestAccessArgs{
		Resource: "shop", Privilege: "read", Tables: []string{"public.orders"}, Justification: "x"})
	wantCode(t, err, grants.CodePolicyDenied)
}

// With results: none, a failed query's record keeps the SQLSTATE but not
// PostgreSQL's message, which may quote data values.
func TestFailureMessagesFollowTheResultsSetting(t *testing.T) {
	f := newFixture(t)
	f.svc.cfg.Audit.Results = config.ResultsNone
	f.grant(t, "5m")
	_, err := f.svc.DatabaseQuery(context.Background(), f.call(), DatabaseQueryArgs{Resource: "shop",
		SQL: "SELECT id FROM orders WHERE id = $1", Params: []any{"secret-value-7"}})
	wantCode(t, err, grants.CodeQueryFailed)
	b, _ := os.ReadFile(f.trail)
	if !strings.Contains(string(b), `"sqlstate":"22P02"`) {
		t.Errorf("the SQLSTATE is missing from the trail")
	}
	if strings.Contains(string(b), "secret-value-7\\\"") || strings.Count(string(b), "secret-value-7") > 1 {
		t.Errorf("PostgreSQL's message quoting the value reached the trail:\n%s", b)
	}
}
