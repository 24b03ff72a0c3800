package grants

import (
	"context"
	"errors"
	"time"
)

// State is where a grant is in its life.
type State string

// Grant states. Only Active grants authorize queries; the others are final.
const (
	Active   State = "active"
	Released State = "released"
	Expired  State = "expired"
	Revoked  State = "revoked"
)

// ErrNotFound means the store holds no grant with that id.
var ErrNotFound = errors.New("grants: not found")

// Record is a grant as the store keeps it. The signed token never leaves
// keyhole: agents hold only the id, and every use re-verifies the token.
type Record struct {
	ID        string
	SessionID string
	Agent     string
	Resource  string
	Scope     Scope
	Token     string // compact JWS; never logged (see LogValue)
	State     State
	IssuedAt  time.Time
	ExpiresAt time.Time
	EndedAt   time.Time // zero while active
	EndedBy   string    // "agent", "session-end", "expiry", or an admin's name
}

// Filter selects records for listing; zero fields match anything.
type Filter struct {
	SessionID string
	Resource  string
	State     State
}

// Store keeps grant records where every keyhole process on the machine (and
// the admin CLI) sees them, so that a release or a revocation made by one is
// seen by all on their next check.
type Store interface {
	Put(ctx context.Context, r *Record) error
	Get(ctx context.Context, id string) (*Record, error)
	List(ctx context.Context, f Filter) ([]*Record, error)
	// End moves an active grant to a final state. It reports false when the
	// grant was not active (already ended), so each end is recorded once.
	End(ctx context.Context, id string, to State, at time.Time, by string) (bool, error)
	// Due lists active grants whose expiry is at or before now.
	Due(ctx context.Context, now time.Time) ([]*Record, error)
	Close() error
}
