package sqlitestore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyholehq/keyhole/grants"
)

func record(id, session string, exp time.Time) *grants.Record {
	return &grants.Record{ID: id, SessionID: session, Agent: "a", Resource: "shop", Token: "tok-" + id,
		Scope: grants.Scope{Privilege: grants.Read, Tables: []grants.TableScope{{Table: grants.Table{Schema: "public", Name: "t"}, Columns: []string{"id"}}}},
		State: grants.Active, IssuedAt: exp.Add(-time.Minute), ExpiresAt: exp}
}

func TestStore(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Unix(1_800_000_000, 0)
	for i := 0; i < 3; i++ {
		if err := s.Put(ctx, record(fmt.Sprint("g", i), "s1", now.Add(time.Duration(i)*time.Minute))); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Put(ctx, record("g0", "s2", now)); err == nil {
		t.Error("a duplicate grant id must be refused")
	}
	if _, err := s.Get(ctx, "nope"); !errors.Is(err, grants.ErrNotFound) {
		t.Errorf("missing: %v", err)
	}
	got, err := s.Get(ctx, "g1")
	if err != nil || got.Token != "tok-g1" || got.Scope.Tables[0].Columns[0] != "id" || !got.ExpiresAt.Equal(now.Add(time.Minute)) {
		t.Fatalf("get: %+v %v", got, err)
	}
	due, err := s.Due(ctx, now.Add(time.Minute))
	if err != nil || len(due) != 2 {
		t.Fatalf("due: %d %v", len(due), err)
	}

	// A second process sees the same state.
	other, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	// Many ends race; exactly one wins.
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			st := s
			if i%2 == 1 {
				st = other
			}
			ok, err := st.End(ctx, "g0", grants.Revoked, now, fmt.Sprint("admin", i))
			if err != nil {
				t.Error(err)
			}
			if ok {
				wins.Add(1)
			}
		}(i)
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Errorf("%d ends won, want exactly 1", wins.Load())
	}
	active, err := other.List(ctx, grants.Filter{SessionID: "s1", State: grants.Active})
	if err != nil || len(active) != 2 || active[0].ID != "g2" {
		t.Errorf("active newest first: %v %v", active, err)
	}
	g0, _ := other.Get(ctx, "g0")
	if g0.State != grants.Revoked || g0.EndedBy == "" {
		t.Errorf("g0: %+v", g0)
	}
}
