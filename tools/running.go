package tools

import (
	"context"
	"sync"
	"time"

	"github.com/keyholehq/keyhole/grants/pgexec"
)

// inflight tracks the queries running under each grant, so that ending a
// grant cancels them at once in every enforcement mode (with ephemeral
// roles, terminating the role's sessions does it too). A grant ended in this
// process is remembered until its expiry, so a query that was authorized a
// moment before the end cannot start after it.
type inflight struct {
	mu      sync.Mutex
	next    uint64
	running map[string]map[uint64]context.CancelCauseFunc
	ended   map[string]time.Time // grant id → its expiry
}

func newInflight() *inflight {
	return &inflight{running: map[string]map[uint64]context.CancelCauseFunc{}, ended: map[string]time.Time{}}
}

// start registers a query under grantID. It returns ok false when the grant
// has already ended here; otherwise the query must run with ctx and call
// done when it finishes.
func (f *inflight) start(ctx context.Context, grantID string) (_ context.Context, done func(), ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ended := f.ended[grantID]; ended {
		return ctx, nil, false
	}
	ctx, cancel := context.WithCancelCause(ctx)
	f.next++
	id := f.next
	if f.running[grantID] == nil {
		f.running[grantID] = map[uint64]context.CancelCauseFunc{}
	}
	f.running[grantID][id] = cancel
	return ctx, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.running[grantID], id)
		if len(f.running[grantID]) == 0 {
			delete(f.running, grantID)
		}
		cancel(nil)
	}, true
}

// end marks a grant ended and cancels its running queries; the agent is
// then told why the grant ended (pgexec asks the grant store).
func (f *inflight) end(grantID string, expiry time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ended[grantID] = expiry
	for _, cancel := range f.running[grantID] {
		cancel(pgexec.ErrGrantEnded)
	}
}

// grants lists the grants with queries running now.
func (f *inflight) grants() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	ids := make([]string, 0, len(f.running))
	for id := range f.running {
		ids = append(ids, id)
	}
	return ids
}

// forget drops ended grants past their expiry: their tokens are refused
// on every use anyway, so remembering them protects nothing.
func (f *inflight) forget(now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, exp := range f.ended {
		if !now.Before(exp) {
			delete(f.ended, id)
		}
	}
}
