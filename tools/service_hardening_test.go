package tools

import (
	"bufio"
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/keyholehq/keyhole/config"
	"github.com/keyholehq/keyhole/grants"
)

// A resource whose enforcement is none of the known modes (a Config built
// in code, a mode added later) must fail closed, never run the agent's
// query on keyhole's own pool as keyhole's own role.
func TestUnknownEnforcementFailsClosed(t *testing.T) {
	f := newFixture(t)
	id := f.grant(t, "5m")
	f.svc.cfg.Resource("shop").Enforcement = ""
	_, err := f.svc.DatabaseQuery(context.Background(), f.call(), DatabaseQueryArgs{Resource: "shop", SQL: "SELECT count(*) FROM orders", GrantID: id})
	wantCode(t, err, grants.CodeUnavailable)
}

// The prompt context an agent controls is size-capped on the trail (as the
// README says), so that one call cannot write megabytes into the audit
// file that every keyhole process shares.
func TestAuditRecordsAreSizeCapped(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	big := strings.Repeat("A", 4<<20)
	_, _ = f.svc.RequestAccess(ctx, f.call(), RequestAccessArgs{
		Resource: "shop", Privilege: "read", Tables: []string{"public.orders"}, Justification: big})
	id := f.grant(t, "5m")
	_, _ = f.svc.DatabaseQuery(ctx, f.call(), DatabaseQueryArgs{Resource: "shop", SQL: "SELECT 1", GrantID: id, Purpose: big})
	_, _ = f.svc.DatabaseQuery(ctx, f.call(), DatabaseQueryArgs{Resource: "shop", SQL: "SELECT 1 -- " + big, GrantID: id})

	file, err := os.Open(f.trail)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	sc.Buffer(nil, 64<<20)
	const limit = 256 << 10
	for sc.Scan() {
		if n := len(sc.Bytes()); n > limit {
			line := sc.Text()
			t.Errorf("audit record of %d bytes (limit %d): %s…", n, limit, line[:200])
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
}

// slowRoles is a Roles whose Provision waits until told to finish, to
// replay a release_access that arrives while request_access is creating
// the grant's role.
type slowRoles struct {
	entered, finish chan struct{}

	mu          sync.Mutex
	provisioned map[string]bool // grant id -> role created
	ended       map[string]bool // grant id -> End called after creation
}

func (r *slowRoles) Provision(_ context.Context, rec *grants.Record, _ string) error {
	close(r.entered)
	<-r.finish
	r.mu.Lock()
	defer r.mu.Unlock()
	r.provisioned[rec.ID] = true
	return nil
}

func (r *slowRoles) Pool(string) *pgxpool.Pool { return nil }

func (r *slowRoles) End(_ context.Context, rec *grants.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.provisioned[rec.ID] {
		r.ended[rec.ID] = true
	}
	return nil
}

// A grant released while its role is being created must not leave the
// role alive, nor be reported to the agent as granted.
func TestReleaseDuringProvisionEndsTheRole(t *testing.T) {
	f := newFixture(t)
	roles := &slowRoles{entered: make(chan struct{}), finish: make(chan struct{}), provisioned: map[string]bool{}, ended: map[string]bool{}}
	f.svc.roles = roles
	f.svc.cfg.Resource("shop").Enforcement = config.EphemeralRole
	ctx := context.Background()

	type answer struct {
		res *Result
		err error
	}
	done := make(chan answer, 1)
	go func() {
		res, err := f.svc.RequestAccess(ctx, f.call(), RequestAccessArgs{
			Resource: "shop", Privilege: "read", Tables: []string{"public.orders"}, Justification: "race"})
		done <- answer{res, err}
	}()
	<-roles.entered
	rel, err := f.svc.ReleaseAccess(ctx, f.call(), ReleaseAccessArgs{All: true})
	if err != nil {
		t.Fatal(err)
	}
	close(roles.finish)
	got := <-done

	released := rel.Structured.(*ReleaseAccessResult).Released
	if len(released) != 1 {
		t.Fatalf("release_access released %v, want the grant being created", released)
	}
	roles.mu.Lock()
	alive := roles.provisioned[released[0]] && !roles.ended[released[0]]
	roles.mu.Unlock()
	if alive {
		t.Errorf("the released grant's role was created after the release and never ended")
	}
	if got.err == nil {
		t.Errorf("request_access answered %q for a grant already released", got.res.Text)
	}
}

// A parameter PostgreSQL cannot take is refused before query.allowed is
// written: the trail must not say a query was allowed that never could run.
func TestInvalidParamIsRefusedBeforeQueryAllowed(t *testing.T) {
	f := newFixture(t)
	id := f.grant(t, "5m")
	_, err := f.svc.DatabaseQuery(context.Background(), f.call(), DatabaseQueryArgs{
		Resource: "shop", SQL: "SELECT count(*) FROM orders WHERE status = $1", GrantID: id, Params: []any{"a\x00b"}})
	wantCode(t, err, grants.CodeInvalidArgument)
	b, err := os.ReadFile(f.trail)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), `"event":"query.allowed"`) {
		t.Errorf("query.allowed recorded for a call refused for its arguments")
	}
}

// More parameters than the extended protocol carries, or megabytes of
// them, are the agent's mistake (INVALID_ARGUMENT), not keyhole's
// (INTERNAL), and are refused before query.allowed.
func TestOversizedParamsAreInvalidArguments(t *testing.T) {
	f := newFixture(t)
	id := f.grant(t, "5m")
	many := make([]any, 70000)
	for i := range many {
		many[i] = "1"
	}
	_, err := f.svc.DatabaseQuery(context.Background(), f.call(), DatabaseQueryArgs{Resource: "shop", SQL: "SELECT $1", GrantID: id, Params: many})
	wantCode(t, err, grants.CodeInvalidArgument)
	_, err = f.svc.DatabaseQuery(context.Background(), f.call(), DatabaseQueryArgs{Resource: "shop", SQL: "SELECT length($1)", GrantID: id, Params: []any{strings.Repeat("x", 2<<20)}})
	wantCode(t, err, grants.CodeInvalidArgument)
}

// brokenStore is a grant store that cannot be read or written.
type brokenStore struct{}

func (brokenStore) Put(context.Context, *grants.Record) error { return errBroken }
func (brokenStore) Get(context.Context, string) (*grants.Record, error) {
	return nil, errBroken
}
func (brokenStore) List(context.Context, grants.Filter) ([]*grants.Record, error) {
	return nil, errBroken
}
func (brokenStore) End(context.Context, string, grants.State, time.Time, string) (bool, error) {
	return false, errBroken
}
func (brokenStore) Due(context.Context, time.Time) ([]*grants.Record, error) { return nil, errBroken }
func (brokenStore) Close() error                                             { return nil }

var errBroken = errors.New("state.db: disk I/O error")

// A call refused because keyhole itself failed (its store cannot be read)
// is still on the trail: every request is recorded with its outcome.
func TestInternalRefusalsAreRecorded(t *testing.T) {
	f := newFixture(t)
	keys, err := grants.LoadOrCreateKeys(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f.svc.grants = grants.NewManager(keys, brokenStore{}, "spiffe://keyhole.local/keyhole", f.clock.Now)
	rec := &memRecorder{}
	f.svc.audit = rec
	ctx := context.Background()
	if _, err := f.svc.DatabaseQuery(ctx, f.call(), DatabaseQueryArgs{Resource: "shop", SQL: "SELECT 1"}); err == nil {
		t.Fatal("a query ran without a readable grant store")
	}
	if _, err := f.svc.RequestAccess(ctx, f.call(), RequestAccessArgs{Resource: "shop", Privilege: "read", Tables: []string{"public.orders"}, Justification: "x"}); err == nil {
		t.Fatal("a grant was issued without a writable grant store")
	}
	var got []string
	for _, e := range rec.events {
		got = append(got, e.Event+"/"+e.Code)
		if strings.Contains(e.Reason, "disk I/O") {
			t.Errorf("internal detail on the trail: %q", e.Reason)
		}
	}
	want := []string{"query.denied/INTERNAL", "access.request/", "access.denied/INTERNAL"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("trail %v, want %v", got, want)
	}
}

// A row too large for the result is RESULT_TOO_LARGE on a grant's own role
// too (not a grant end, not INTERNAL), and the grant keeps working.
func TestHugeRowUnderARole(t *testing.T) {
	f := newRoleFixture(t)
	sess := newSession("analytics-huge")
	g := f.request(t, sess, "read", "public.orders")
	f.svc.noGate = true // the row is made by a built-in the gate bounds; string_agg over a big table makes one too
	_, err := f.query(sess, g, "SELECT repeat('x', 16 << 20)")
	if code, _ := refusal(err); code != grants.CodeResultTooLarge {
		t.Errorf("want RESULT_TOO_LARGE, got %v", err)
	}
	if _, err := f.query(sess, g, "SELECT count(*) FROM orders"); err != nil {
		t.Errorf("next query: %v", err)
	}
}

// A tables argument of megabytes (one long column list is parsed in time
// quadratic in its length) is refused before it is parsed.
func TestHugeTablesArgumentIsRefused(t *testing.T) {
	f := newFixture(t)
	cols := make([]string, 40000)
	for i := range cols {
		cols[i] = "c" + strings.Repeat("x", 5)
	}
	_, err := f.svc.RequestAccess(context.Background(), f.call(), RequestAccessArgs{Resource: "shop", Privilege: "read",
		Tables: []string{"public.customers(" + strings.Join(cols, ", ") + ")"}, Justification: "x"})
	wantCode(t, err, grants.CodeInvalidArgument)
}
