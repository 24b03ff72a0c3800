package pgroles

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/keyholehq/keyhole/config"
	"github.com/keyholehq/keyhole/grants"
)

// ErrClosed means the Keeper was closed.
var ErrClosed = errors.New("pgroles: keeper closed")

// Keeper holds the roles of this process's grants, one per grant, across
// the resources whose enforcement is ephemeral-role. It ends a role when its
// grant ends: on request (release, revocation, session end), at the grant's
// expiry by a timer of its own, when Sweep finds the grant ended by another
// process, and at Close. A role's password dies with the process, so a role
// is never handed from one process to another; a role this process does not
// hold is ended by name (Drop). A Keeper is safe for concurrent use.
type Keeper struct {
	provs map[string]*Provisioner // by resource name
	now   func() time.Time
	log   *slog.Logger

	mu     sync.Mutex
	held   map[string]*held // by grant id
	closed bool
}

type held struct {
	grant string
	prov  *Provisioner
	role  *Role
	timer *time.Timer

	ending bool // guarded by Keeper.mu: Pool no longer hands the pool out
	once   sync.Once
	err    error
}

// NewKeeper prepares a provisioner for every resource of cfg whose
// enforcement is ephemeral-role. now is the clock grant expiries are read
// against (the grant manager's); nil means time.Now.
func NewKeeper(cfg *config.Config, now func() time.Time, log *slog.Logger) (*Keeper, error) {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	k := &Keeper{provs: map[string]*Provisioner{}, held: map[string]*held{}, now: now, log: log}
	for name, res := range cfg.Resources {
		if res.Enforcement != config.EphemeralRole {
			continue
		}
		p, err := NewProvisioner(res, log)
		if err != nil {
			k.Close(context.Background())
			return nil, err
		}
		k.provs[name] = p
	}
	return k, nil
}

// LogValue shows how many roles are held, never a DSN or a password.
func (k *Keeper) LogValue() slog.Value {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slog.GroupValue(slog.Int("resources", len(k.provs)), slog.Int("held", len(k.held)))
}

// String is LogValue for fmt.
func (k *Keeper) String() string { return "pgroles.Keeper" }

// GoString is String: %#v must not dump a DSN or a pool's password.
func (k *Keeper) GoString() string { return k.String() }

// Provisioner returns the provisioner of a resource, nil when the resource
// is not enforced with ephemeral roles.
func (k *Keeper) Provisioner(resource string) *Provisioner { return k.provs[resource] }

// Provision creates the role of a freshly issued grant and holds it until
// the grant ends. The role expires (VALID UNTIL) and is ended by a timer at
// the grant's expiry, without waiting for a call.
func (k *Keeper) Provision(ctx context.Context, rec *grants.Record, applicationName string) error {
	p := k.provs[rec.Resource]
	if p == nil {
		return fmt.Errorf("pgroles: resource %s is not enforced with ephemeral roles", rec.Resource)
	}
	k.mu.Lock()
	closed := k.closed
	k.mu.Unlock()
	if closed {
		return ErrClosed
	}
	left := rec.ExpiresAt.Sub(k.now())
	if left <= 0 {
		return fmt.Errorf("pgroles: grant %s has expired", rec.ID)
	}
	role, err := p.Create(ctx, Spec{
		Name:            RoleName(p.Prefix(), rec.Token),
		Scope:           rec.Scope,
		ValidUntil:      time.Now().Add(left),
		ApplicationName: applicationName,
	})
	if err != nil {
		return err
	}
	h := &held{grant: rec.ID, prov: p, role: role}
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		_ = p.End(ctx, role)
		return ErrClosed
	}
	k.held[rec.ID] = h
	h.timer = time.AfterFunc(left, func() {
		if err := k.end(context.Background(), h); err != nil {
			k.log.Error("ending an expired grant's role failed; start-up reaping or VALID UNTIL will catch it", "grant", h.grant, "role", h.role, "err", err)
		}
	})
	k.mu.Unlock()
	return nil
}

// Pool returns the pool of a grant's role, or nil when this process holds
// no live role for the grant (it ended, or another process created it).
func (k *Keeper) Pool(grantID string) *pgxpool.Pool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if h, ok := k.held[grantID]; ok && !h.ending {
		return h.role.pool
	}
	return nil
}

// Role returns the name of the role this process holds for a grant.
func (k *Keeper) Role(grantID string) (string, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if h, ok := k.held[grantID]; ok {
		return h.role.name, true
	}
	return "", false
}

// End ends the role of a grant that ended: the held one, or, when another
// process created it, the role named after the grant. It returns once the
// role's backends are gone and the role dropped. A grant of a resource not
// enforced with ephemeral roles has nothing to end.
func (k *Keeper) End(ctx context.Context, rec *grants.Record) error {
	k.mu.Lock()
	h := k.held[rec.ID]
	k.mu.Unlock()
	if h != nil {
		return k.end(ctx, h)
	}
	p := k.provs[rec.Resource]
	if p == nil {
		return nil
	}
	return p.Drop(ctx, RoleName(p.Prefix(), rec.Token))
}

// end ends a held role once; concurrent callers wait for the first.
func (k *Keeper) end(ctx context.Context, h *held) error {
	h.once.Do(func() {
		k.mu.Lock()
		h.ending = true
		k.mu.Unlock()
		h.timer.Stop()
		h.err = h.prov.End(ctx, h.role)
		k.mu.Lock()
		delete(k.held, h.grant)
		k.mu.Unlock()
	})
	return h.err
}

// Sweep ends every held role whose grant active reports as no longer
// active: revoked by an admin's CLI, expired by another process's sweep.
// It also keeps each resource's holder connection alive (see
// Provisioner.Reap). Run it every second. An error of active leaves that role alone until the
// next sweep (its timer still ends it at expiry).
func (k *Keeper) Sweep(ctx context.Context, active func(ctx context.Context, grantID string) (bool, error)) error {
	var errs []error
	for _, p := range k.provs {
		if err := p.KeepAlive(ctx); err != nil && !errors.Is(err, ErrClosed) {
			errs = append(errs, err)
		}
	}
	for _, h := range k.snapshot() {
		ok, err := active(ctx, h.grant)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !ok {
			if err := k.end(ctx, h); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func (k *Keeper) snapshot() []*held {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]*held, 0, len(k.held))
	for _, h := range k.held {
		out = append(out, h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].grant < out[j].grant })
	return out
}

// Reap drops, in every resource, the roles of its prefix that no active
// grant owns. active lists the active grants of the shared store; it is
// called after the roles are listed (see Provisioner.Reap). A role whose
// grant is past its expiry is not owned.
func (k *Keeper) Reap(ctx context.Context, active func(context.Context) ([]*grants.Record, error)) ([]string, error) {
	names := make([]string, 0, len(k.provs))
	for name := range k.provs {
		names = append(names, name)
	}
	sort.Strings(names)
	var dropped []string
	var errs []error
	for _, name := range names {
		p := k.provs[name]
		got, err := p.Reap(ctx, func(ctx context.Context) (map[string]bool, error) {
			recs, err := active(ctx)
			if err != nil {
				return nil, err
			}
			owned := map[string]bool{}
			now := k.now()
			for _, r := range recs {
				if r.State == grants.Active && now.Before(r.ExpiresAt) {
					owned[RoleName(p.Prefix(), r.Token)] = true
				}
			}
			return owned, nil
		})
		dropped = append(dropped, got...)
		if err != nil {
			errs = append(errs, fmt.Errorf("resource %s: %w", name, err))
		}
	}
	return dropped, errors.Join(errs...)
}

// Close ends every role still held — their passwords die with this process,
// so they could never be used again — and closes keyhole's connections.
func (k *Keeper) Close(ctx context.Context) error {
	k.mu.Lock()
	k.closed = true
	k.mu.Unlock()
	var errs []error
	for _, h := range k.snapshot() {
		if err := k.end(ctx, h); err != nil {
			errs = append(errs, err)
		}
	}
	for _, p := range k.provs {
		p.Close()
	}
	return errors.Join(errs...)
}
