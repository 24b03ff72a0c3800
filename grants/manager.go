package grants

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// SessionRef names the session a grant is bound to.
type SessionRef struct {
	ID     string // session id: the grant's cnf binding
	SPIFFE string // the grant's sub
	Agent  string
}

// Manager issues grants, checks them on every use, and ends them. It is the
// only place that turns a stored grant into something a query may run under.
type Manager struct {
	keys   *KeyRing
	store  Store
	issuer string
	now    func() time.Time
}

// NewManager returns a Manager. now is the clock every check uses (inject a
// fake one in tests); nil means time.Now.
func NewManager(keys *KeyRing, store Store, issuer string, now func() time.Time) *Manager {
	if now == nil {
		now = time.Now
	}
	return &Manager{keys: keys, store: store, issuer: issuer, now: now}
}

// Now is the manager's clock.
func (m *Manager) Now() time.Time { return m.now() }

// Issue signs a grant for sess over scope on resource, valid for ttl, and
// stores it as active.
func (m *Manager) Issue(ctx context.Context, sess SessionRef, resource string, scope Scope, ttl time.Duration, approvedBy string) (*Record, error) {
	now := m.now().Truncate(time.Second) // JWT times are whole seconds
	claims := GrantClaims{
		ID:         "g_" + randomID(),
		Issuer:     m.issuer,
		Subject:    sess.SPIFFE,
		Audience:   resource,
		Scope:      scope,
		IssuedAt:   now,
		NotBefore:  now,
		Expiry:     now.Add(ttl).Truncate(time.Second), // the record says what the token says
		SessionID:  sess.ID,
		Agent:      sess.Agent,
		ApprovedBy: approvedBy,
	}
	token, err := m.keys.SignGrant(claims)
	if err != nil {
		return nil, fmt.Errorf("grants: issue: %w", err)
	}
	rec := &Record{
		ID: claims.ID, SessionID: sess.ID, Agent: sess.Agent, Resource: resource, Scope: scope,
		Token: token, State: Active, IssuedAt: now, ExpiresAt: claims.Expiry,
	}
	if err := m.store.Put(ctx, rec); err != nil {
		return nil, fmt.Errorf("grants: issue: %w", err)
	}
	return rec, nil
}

// Authorize returns the verified grants under which session sessionID may
// query resource: the one named by grantID, or, when grantID is empty, every
// active grant of the session on that resource (newest first). The token of
// each is verified again — signature, audience, issuer, validity window and
// session binding — and its stored state consulted, so a release or a
// revocation by any process takes effect on the next call.
func (m *Manager) Authorize(ctx context.Context, sessionID, resource, grantID string) ([]*Grant, error) {
	var recs []*Record
	if grantID != "" {
		rec, err := m.store.Get(ctx, grantID)
		if errors.Is(err, ErrNotFound) {
			return nil, Deny(CodeNoGrant, "there is no grant %q; call request_access for resource %q first", grantID, resource)
		}
		if err != nil {
			return nil, fmt.Errorf("grants: authorize: %w", err)
		}
		recs = []*Record{rec}
	} else {
		all, err := m.store.List(ctx, Filter{SessionID: sessionID, Resource: resource, State: Active})
		if err != nil {
			return nil, fmt.Errorf("grants: authorize: %w", err)
		}
		recs = all
		if len(recs) == 0 {
			// Say why the last grant on this resource ended, if there was one.
			ended, err := m.store.List(ctx, Filter{SessionID: sessionID, Resource: resource})
			if err != nil {
				return nil, fmt.Errorf("grants: authorize: %w", err)
			}
			if len(ended) > 0 {
				// A grant issued between the two lists verifies: use it.
				g, err := m.verify(ended[0], sessionID, resource)
				if err != nil {
					return nil, err
				}
				return []*Grant{g}, nil
			}
		}
	}
	if len(recs) == 0 {
		return nil, Deny(CodeNoGrant, "this session holds no active grant on resource %q; call request_access with the tables you need and a justification", resource)
	}
	var out []*Grant
	var firstErr error
	for _, rec := range recs {
		g, err := m.verify(rec, sessionID, resource)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		out = append(out, g)
	}
	if len(out) == 0 {
		return nil, firstErr
	}
	return out, nil
}

func (m *Manager) verify(rec *Record, sessionID, resource string) (*Grant, error) {
	g, err := m.keys.VerifyGrant(rec.Token, VerifyOptions{Audience: resource, SessionID: sessionID, Issuer: m.issuer, Now: m.now()})
	switch {
	case errors.Is(err, ErrNotYours):
		// Checked first: a grant of another session says nothing about its state.
		return nil, Deny(CodeGrantNotYours, "grant %s belongs to another session; grants cannot be shared or replayed — call request_access in this session", rec.ID)
	case errors.Is(err, ErrWrongAudience):
		return nil, Deny(CodeOutOfScope, "grant %s is for resource %q, not %q; request access to %q", rec.ID, rec.Resource, resource, resource)
	case errors.Is(err, ErrExpired):
		return nil, Deny(CodeGrantExpired, "grant %s expired at %s; call request_access again if you still need it", rec.ID, rec.ExpiresAt.UTC().Format(time.RFC3339))
	case errors.Is(err, ErrNotYetValid):
		return nil, Deny(CodeNoGrant, "grant %s is not valid yet", rec.ID)
	case err != nil:
		return nil, Deny(CodeNoGrant, "grant %s failed verification and cannot be used; call request_access again", rec.ID)
	}
	switch rec.State {
	case Active:
		return g, nil
	case Revoked:
		return nil, Deny(CodeGrantRevoked, "grant %s was revoked by %s; ask an admin, or call request_access again", rec.ID, rec.EndedBy)
	case Expired:
		return nil, Deny(CodeGrantExpired, "grant %s expired at %s; call request_access again if you still need it", rec.ID, rec.ExpiresAt.UTC().Format(time.RFC3339))
	default:
		return nil, Deny(CodeNoGrant, "grant %s was released; call request_access again if you need access", rec.ID)
	}
}

// Record returns the stored record of a grant, whatever its state.
func (m *Manager) Record(ctx context.Context, id string) (*Record, error) {
	rec, err := m.store.Get(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("grants: %w", err)
	}
	return rec, nil
}

// Release ends one grant of the session (grantID) or all of them (grantID
// ""). It returns the records it ended.
func (m *Manager) Release(ctx context.Context, sessionID, grantID string) ([]*Record, error) {
	return m.end(ctx, sessionID, grantID, Released, "agent")
}

// EndSession releases every grant of a session that is ending.
func (m *Manager) EndSession(ctx context.Context, sessionID string) ([]*Record, error) {
	return m.end(ctx, sessionID, "", Released, "session-end")
}

func (m *Manager) end(ctx context.Context, sessionID, grantID string, to State, by string) ([]*Record, error) {
	var recs []*Record
	if grantID != "" {
		rec, err := m.store.Get(ctx, grantID)
		if errors.Is(err, ErrNotFound) || (err == nil && rec.SessionID != sessionID) {
			return nil, Deny(CodeNoGrant, "this session holds no grant %q; release_access with all: true releases every grant of this session", grantID)
		}
		if err != nil {
			return nil, fmt.Errorf("grants: release: %w", err)
		}
		recs = []*Record{rec}
	} else {
		all, err := m.store.List(ctx, Filter{SessionID: sessionID, State: Active})
		if err != nil {
			return nil, fmt.Errorf("grants: release: %w", err)
		}
		recs = all
	}
	now := m.now()
	var ended []*Record
	for _, rec := range recs {
		ok, err := m.store.End(ctx, rec.ID, to, now, by)
		if err != nil {
			return ended, fmt.Errorf("grants: release: %w", err)
		}
		if ok {
			rec.State, rec.EndedAt, rec.EndedBy = to, now, by
			ended = append(ended, rec)
		}
	}
	return ended, nil
}

// Revoke ends a grant on an admin's word.
func (m *Manager) Revoke(ctx context.Context, grantID, actor string) (*Record, error) {
	rec, err := m.store.Get(ctx, grantID)
	if err != nil {
		return nil, fmt.Errorf("grants: revoke %s: %w", grantID, err)
	}
	ok, err := m.store.End(ctx, grantID, Revoked, m.now(), actor)
	if err != nil {
		return nil, fmt.Errorf("grants: revoke %s: %w", grantID, err)
	}
	if !ok {
		return nil, fmt.Errorf("grants: revoke %s: grant is already %s", grantID, rec.State)
	}
	rec.State, rec.EndedBy = Revoked, actor
	return rec, nil
}

// ExpireDue marks every active grant whose expiry has passed as expired and
// returns them, so the caller can record the event and end database-side state.
func (m *Manager) ExpireDue(ctx context.Context) ([]*Record, error) {
	now := m.now()
	due, err := m.store.Due(ctx, now)
	if err != nil {
		return nil, fmt.Errorf("grants: expire: %w", err)
	}
	var ended []*Record
	for _, rec := range due {
		ok, err := m.store.End(ctx, rec.ID, Expired, now, "expiry")
		if err != nil {
			return ended, fmt.Errorf("grants: expire: %w", err)
		}
		if ok {
			rec.State, rec.EndedAt, rec.EndedBy = Expired, now, "expiry"
			ended = append(ended, rec)
		}
	}
	return ended, nil
}

// LogValue shows a record without its token.
func (r *Record) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("id", r.ID),
		slog.String("resource", r.Resource),
		slog.String("privilege", string(r.Scope.Privilege)),
		slog.String("state", string(r.State)),
		slog.Time("expires_at", r.ExpiresAt),
	)
}

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// randomID returns 128 random bits, lower-case base32.
func randomID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("grants: crypto/rand failed: " + err.Error())
	}
	return strings.ToLower(idEncoding.EncodeToString(b[:]))
}
