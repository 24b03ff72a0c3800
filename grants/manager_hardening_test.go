package grants

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"
)

// memStore is an in-memory Store for Manager tests. listHook, when set,
// may rewrite what List returns, to replay interleavings with other
// processes deterministically.
type memStore struct {
	mu       sync.Mutex
	recs     map[string]*Record
	listHook func(f Filter, out []*Record) []*Record
}

func newMemStore() *memStore { return &memStore{recs: map[string]*Record{}} }

func (s *memStore) Put(_ context.Context, r *Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := *r
	s.recs[r.ID] = &c
	return nil
}

func (s *memStore) Get(_ context.Context, id string) (*Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.recs[id]
	if !ok {
		return nil, ErrNotFound
	}
	c := *r
	return &c, nil
}

func (s *memStore) List(_ context.Context, f Filter) ([]*Record, error) {
	s.mu.Lock()
	var out []*Record
	for _, r := range s.recs {
		if (f.SessionID == "" || r.SessionID == f.SessionID) && (f.Resource == "" || r.Resource == f.Resource) && (f.State == "" || r.State == f.State) {
			c := *r
			out = append(out, &c)
		}
	}
	hook := s.listHook
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b *Record) int { return b.IssuedAt.Compare(a.IssuedAt) })
	if hook != nil {
		out = hook(f, out)
	}
	return out, nil
}

func (s *memStore) End(_ context.Context, id string, to State, at time.Time, by string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.recs[id]
	if !ok || r.State != Active {
		return false, nil
	}
	r.State, r.EndedAt, r.EndedBy = to, at, by
	return true, nil
}

func (s *memStore) Due(_ context.Context, now time.Time) ([]*Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*Record
	for _, r := range s.recs {
		if r.State == Active && !r.ExpiresAt.After(now) {
			c := *r
			out = append(out, &c)
		}
	}
	return out, nil
}

func (s *memStore) Close() error { return nil }

func testManager(store Store) *Manager {
	now := sampleTime
	return NewManager(newKeyRing(fixedKey("keyhole")), store, "spiffe://example.org/keyhole", func() time.Time { return now })
}

func testSession(id string) SessionRef {
	return SessionRef{ID: id, SPIFFE: SPIFFEID("example.org", "analytics-worker", id), Agent: "analytics-worker"}
}

var testScope = Scope{Privilege: Read, Tables: []TableScope{{Table: Table{"public", "orders"}}}}

// A grant issued by a concurrent request_access between Authorize's two
// List calls (the first sees no active grant, the second sees the new,
// active one) must not make Authorize return no grant and no error: its
// callers index the first grant and would panic.
func TestAuthorizeNeverReturnsNothingWithoutError(t *testing.T) {
	store := newMemStore()
	m := testManager(store)
	ctx := context.Background()
	sess := testSession(NewSessionID())
	if _, err := m.Issue(ctx, sess, "analytics", testScope, 5*time.Minute, "policy:auto"); err != nil {
		t.Fatal(err)
	}
	// Replay the interleaving: the active-only List ran just before the
	// grant was stored, the unfiltered one just after.
	store.listHook = func(f Filter, out []*Record) []*Record {
		if f.State == Active {
			return nil
		}
		return out
	}
	got, err := m.Authorize(ctx, sess.ID, "analytics", "")
	if err == nil && len(got) == 0 {
		t.Fatal("Authorize returned no grant and no error")
	}
}

// A grant of another session is refused as GRANT_NOT_YOURS whatever
// resource it is presented for: the refusal must not tell one session
// which resource another session's grant covers.
func TestOtherSessionsGrantOnAnotherResourceIsNotYours(t *testing.T) {
	store := newMemStore()
	m := testManager(store)
	ctx := context.Background()
	owner := testSession(NewSessionID())
	rec, err := m.Issue(ctx, owner, "analytics", testScope, 5*time.Minute, "policy:auto")
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Authorize(ctx, NewSessionID(), "billing", rec.ID)
	d, ok := AsDenial(err)
	if !ok || d.Code != CodeGrantNotYours {
		t.Fatalf("want GRANT_NOT_YOURS, got %v", err)
	}
}
