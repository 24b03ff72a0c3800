package pgroles

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/keyholehq/keyhole/config"
	"github.com/keyholehq/keyhole/grants"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func newKeeper(t testing.TB, now func() time.Time) (*Keeper, *config.Resource) {
	t.Helper()
	res := resource(t, keeperDSN)
	k, err := NewKeeper(&config.Config{Resources: map[string]*config.Resource{res.Name: res}}, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k.Close(context.Background()) })
	return k, res
}

func record(res *config.Resource, sc grants.Scope, exp time.Time) *grants.Record {
	return &grants.Record{ID: "g_" + randHex(8), SessionID: "s1", Agent: "a", Resource: res.Name, Scope: sc,
		Token: "token-" + randHex(16), State: grants.Active, IssuedAt: time.Now(), ExpiresAt: exp}
}

func TestKeeperLifecycle(t *testing.T) {
	k, res := newKeeper(t, nil)
	conn := admin(t)
	ctx := context.Background()
	rec := record(res, scope(grants.Read, "public.orders"), time.Now().Add(10*time.Minute))
	if err := k.Provision(ctx, rec, "keyhole test"); err != nil {
		t.Fatal(err)
	}
	name := RoleName(res.RolePrefix, rec.Token)
	if got, ok := k.Role(rec.ID); !ok || got != name {
		t.Fatalf("Role(%s) = %s, %v; want %s", rec.ID, got, ok, name)
	}
	pool := k.Pool(rec.ID)
	if pool == nil {
		t.Fatal("no pool for a provisioned grant")
	}
	if _, err := pool.Exec(ctx, "SELECT count(*) FROM orders"); err != nil {
		t.Fatal(err)
	}
	if err := k.End(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if k.Pool(rec.ID) != nil || roleExists(t, conn, name) {
		t.Error("the role outlived its grant")
	}
	if err := k.End(ctx, rec); err != nil {
		t.Errorf("ending twice: %v", err)
	}
}

// A role another process holds is ended by name.
func TestKeeperEndsAnotherProcesssRole(t *testing.T) {
	k, res := newKeeper(t, nil)
	other, err := NewKeeper(&config.Config{Resources: map[string]*config.Resource{res.Name: res}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(context.Background())
	rec := record(res, scope(grants.Read, "public.orders"), time.Now().Add(10*time.Minute))
	if err := k.Provision(context.Background(), rec, "x"); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := k.Pool(rec.ID).Exec(context.Background(), "SELECT pg_sleep(60)")
		errc <- err
	}()
	conn := admin(t)
	name := RoleName(res.RolePrefix, rec.Token)
	waitFor(t, "the query to run", func() bool { return backends(t, conn, name) == 1 })
	if err := other.End(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	var pgErr *pgconn.PgError
	if err := <-errc; !errors.As(err, &pgErr) || pgErr.Code != "57P01" {
		t.Errorf("query under a revoked grant: %v, want SQLSTATE 57P01", err)
	}
	if roleExists(t, conn, name) {
		t.Error("role survived")
	}
	// The holder learns of it on its next sweep.
	err = k.Sweep(context.Background(), func(context.Context, string) (bool, error) { return false, nil })
	if err != nil {
		t.Fatal(err)
	}
	if k.Pool(rec.ID) != nil {
		t.Error("the holder still hands out the pool")
	}
}

func TestKeeperSweepEndsOnlyEndedGrants(t *testing.T) {
	k, res := newKeeper(t, nil)
	ctx := context.Background()
	live := record(res, scope(grants.Read, "public.orders"), time.Now().Add(10*time.Minute))
	revoked := record(res, scope(grants.Read, "public.orders"), time.Now().Add(10*time.Minute))
	for _, r := range []*grants.Record{live, revoked} {
		if err := k.Provision(ctx, r, "x"); err != nil {
			t.Fatal(err)
		}
	}
	err := k.Sweep(ctx, func(_ context.Context, id string) (bool, error) { return id == live.ID, nil })
	if err != nil {
		t.Fatal(err)
	}
	if k.Pool(live.ID) == nil || k.Pool(revoked.ID) != nil {
		t.Error("sweep ended the wrong role")
	}
}

// The expiry timer ends the role without any call.
func TestKeeperEndsRoleAtExpiry(t *testing.T) {
	c := &clock{now: time.Now()}
	k, res := newKeeper(t, c.Now)
	conn := admin(t)
	rec := record(res, scope(grants.Read, "public.orders"), c.Now().Add(300*time.Millisecond))
	if err := k.Provision(context.Background(), rec, "x"); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := k.Pool(rec.ID).Exec(context.Background(), "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t) SELECT count(*) FROM t")
		errc <- err
	}()
	var pgErr *pgconn.PgError
	if err := <-errc; !errors.As(err, &pgErr) || pgErr.Code != "57P01" {
		t.Errorf("a query running at expiry: %v, want SQLSTATE 57P01", err)
	}
	name := RoleName(res.RolePrefix, rec.Token)
	waitFor(t, "the role to be dropped", func() bool { return !roleExists(t, conn, name) })
}

func TestKeeperReapKeepsActiveGrants(t *testing.T) {
	c := &clock{now: time.Now()}
	k, res := newKeeper(t, c.Now)
	ctx := context.Background()
	live := record(res, scope(grants.Read, "public.orders"), c.Now().Add(10*time.Minute))
	dead := record(res, scope(grants.Read, "public.orders"), c.Now().Add(10*time.Minute))
	late := record(res, scope(grants.Read, "public.orders"), c.Now().Add(10*time.Minute))
	for _, r := range []*grants.Record{live, dead, late} {
		if err := k.Provision(ctx, r, "x"); err != nil {
			t.Fatal(err)
		}
	}
	// A second process starts after the first was killed: the store still
	// says live and late are active, but late is past its expiry.
	late.ExpiresAt = c.Now().Add(-time.Second)
	restarted, err := NewKeeper(&config.Config{Resources: map[string]*config.Resource{res.Name: res}}, c.Now, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer restarted.Close(ctx)
	dropped, err := restarted.Reap(ctx, func(context.Context) ([]*grants.Record, error) {
		return []*grants.Record{live, late}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{RoleName(res.RolePrefix, dead.Token): true, RoleName(res.RolePrefix, late.Token): true}
	if len(dropped) != 2 || !want[dropped[0]] || !want[dropped[1]] {
		t.Errorf("reaped %v, want the roles of the dead and the expired grant", dropped)
	}
	if !roleExists(t, admin(t), RoleName(res.RolePrefix, live.Token)) {
		t.Error("reaping dropped a live grant's role")
	}
}

func TestKeeperCloseEndsHeldRoles(t *testing.T) {
	k, res := newKeeper(t, nil)
	rec := record(res, scope(grants.Read, "public.orders"), time.Now().Add(10*time.Minute))
	if err := k.Provision(context.Background(), rec, "x"); err != nil {
		t.Fatal(err)
	}
	if err := k.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if roleExists(t, admin(t), RoleName(res.RolePrefix, rec.Token)) {
		t.Error("a role survived its keeper: its password is gone with the process")
	}
	if err := k.Provision(context.Background(), record(res, rec.Scope, rec.ExpiresAt), "x"); err == nil {
		t.Error("a closed keeper provisioned a role")
	}
}

// A keyhole killed with its grants still active in the store leaves roles
// no process can use (their passwords died with it): the next start-up
// reaps them, because the killed process's holder lock went with its
// connection.
func TestReapDropsRolesOfADeadProcess(t *testing.T) {
	killed, res := newKeeper(t, nil)
	ctx := context.Background()
	rec := record(res, scope(grants.Read, "public.orders"), time.Now().Add(10*time.Minute))
	if err := killed.Provision(ctx, rec, "x"); err != nil {
		t.Fatal(err)
	}
	name := RoleName(res.RolePrefix, rec.Token)
	// kill -9: the process's connections close; nothing is ended.
	p := killed.Provisioner(res.Name)
	p.holderMu.Lock()
	p.holder.Close(ctx)
	p.holderMu.Unlock()

	restarted, err := NewKeeper(&config.Config{Resources: map[string]*config.Resource{res.Name: res}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer restarted.Close(ctx)
	// The server releases the dead holder's lock when its backend exits,
	// which happens a moment after the connection closes: reap until then,
	// within a generous bound.
	var dropped []string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		dropped, err = restarted.Reap(ctx, func(context.Context) ([]*grants.Record, error) { return []*grants.Record{rec}, nil })
		if err != nil {
			t.Fatal(err)
		}
		if len(dropped) > 0 {
			break
		}
	}
	if len(dropped) != 1 || dropped[0] != name || roleExists(t, admin(t), name) {
		t.Errorf("reaped %v; the dead process's role %s should be gone", dropped, name)
	}
}

// Nothing that holds keyhole's DSN or a role's password prints it.
func TestNothingPrintsASecret(t *testing.T) {
	const pw = "dsn-pa55word-never-printed"
	res := resource(t, strings.Replace(keeperDSN, "postgres://"+keeperRole+"@", "postgres://"+keeperRole+":"+pw+"@", 1))
	k, err := NewKeeper(&config.Config{Resources: map[string]*config.Resource{res.Name: res}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close(context.Background())
	rec := record(res, scope(grants.Read, "public.orders"), time.Now().Add(time.Minute))
	if err := k.Provision(context.Background(), rec, "x"); err != nil {
		t.Fatal(err)
	}
	held := k.held[rec.ID]
	rolePW := held.role.pool.Config().ConnConfig.Password
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("x", "keeper", k, "prov", k.Provisioner(res.Name), "role", held.role)
	fmt.Fprintf(&buf, "%v %+v %#v %v %+v %#v %v", k, k, k, k.Provisioner(res.Name), k.Provisioner(res.Name), k.Provisioner(res.Name), held.role)
	for _, secret := range []string{pw, rolePW} {
		if strings.Contains(buf.String(), secret) {
			t.Errorf("a secret was printed: %s", buf.String())
		}
	}
}
