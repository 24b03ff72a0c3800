package tools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/keyholehq/keyhole/audit"
	"github.com/keyholehq/keyhole/config"
	"github.com/keyholehq/keyhole/grants"
	"github.com/keyholehq/keyhole/grants/pgexec"
	"github.com/keyholehq/keyhole/grants/pgroles"
	"github.com/keyholehq/keyhole/grants/sqlscope"
)

// Recorder writes one audit event durably before returning.
type Recorder interface {
	Record(ctx context.Context, e *audit.Event) error
}

var _ Recorder = (*audit.Log)(nil)

// Session is one agent session as tools see it: its signed identity.
type Session struct {
	Identity grants.SessionIdentity
	// Token is the signed identity document (a JWS); it is not a credential.
	Token string
}

// Ref names the session for grant binding.
func (s *Session) Ref() grants.SessionRef {
	return grants.SessionRef{ID: s.Identity.ID, SPIFFE: s.Identity.SPIFFE, Agent: s.Identity.Agent}
}

// Call carries what arrives with one tool call besides its arguments.
type Call struct {
	Session *Session
	// Meta is the request's _meta object (trace ids, a prompt excerpt a host
	// chose to send); it is recorded size-capped.
	Meta json.RawMessage
}

// Result is a tool's answer: a structured value matching the tool's output
// schema, and a short text rendering of it.
type Result struct {
	Structured any
	Text       string
}

// Service holds what the handlers need. It is safe for concurrent calls.
type Service struct {
	cfg    *config.Config
	grants *grants.Manager
	exec   *pgexec.Executor
	audit  Recorder
	log    *slog.Logger
	roles  Roles // nil when no resource is enforced with ephemeral roles

	// noGate switches the SQL gate off so that tests can show the database
	// refusing on its own. Only tests of this package set it; nothing in
	// configuration, flags or the environment can reach it.
	noGate bool

	inflight *inflight

	mu        sync.Mutex
	analyzers map[string]cachedAnalyzer
}

// Roles gives each grant of a resource enforced with ephemeral-role its own
// PostgreSQL role: created when the grant is issued, ended (its sessions
// terminated, the role dropped) when the grant ends.
type Roles interface {
	// Provision creates the role of a freshly issued grant.
	Provision(ctx context.Context, rec *grants.Record, applicationName string) error
	// Pool returns the pool that logs in as the grant's role, nil when this
	// process holds none.
	Pool(grantID string) *pgxpool.Pool
	// End ends the role of a grant that ended.
	End(ctx context.Context, rec *grants.Record) error
}

var _ Roles = (*pgroles.Keeper)(nil)

// Option configures a Service.
type Option func(*Service)

// WithRoles enforces ephemeral-role resources with r. Without it, a
// resource whose enforcement is ephemeral-role refuses every grant.
func WithRoles(r Roles) Option { return func(s *Service) { s.roles = r } }

// New returns a Service.
func New(cfg *config.Config, gm *grants.Manager, exec *pgexec.Executor, rec Recorder, log *slog.Logger, opts ...Option) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Service{cfg: cfg, grants: gm, exec: exec, audit: rec, log: log, analyzers: map[string]cachedAnalyzer{}, inflight: newInflight()}
	for _, o := range opts {
		o(s)
	}
	return s
}

// catalogTTL is how long the SQL gate trusts what it read from a
// resource's catalog (user-defined functions and operators that could
// shadow built-ins, table columns) before reading it again.
const catalogTTL = time.Minute

type cachedAnalyzer struct {
	a      *sqlscope.Analyzer
	loaded time.Time
}

// analyzer returns the (caching) SQL analyzer of a resource, built from the
// resource's catalog. If the catalog cannot be read, the gate cannot
// resolve names as PostgreSQL would, so the call is refused.
func (s *Service) analyzer(ctx context.Context, res *config.Resource) (*sqlscope.Analyzer, error) {
	s.mu.Lock()
	c, ok := s.analyzers[res.Name]
	s.mu.Unlock()
	if ok && time.Since(c.loaded) < catalogTTL {
		return c.a, nil
	}
	a, err := NewAnalyzer(ctx, s.exec, res)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.analyzers[res.Name] = cachedAnalyzer{a: a, loaded: time.Now()}
	s.mu.Unlock()
	return a, nil
}

// NewAnalyzer builds the SQL gate of a resource from its configuration and
// its database's catalog. keyhole policy check uses it too, so that admins
// get the answer agents get.
func NewAnalyzer(ctx context.Context, exec *pgexec.Executor, res *config.Resource) (*sqlscope.Analyzer, error) {
	path := sqlscope.NewAnalyzer(sqlscope.Options{SearchPath: res.SearchPath}).SearchPath()
	cat, err := exec.Catalog(ctx, res, path)
	if err != nil {
		return nil, grants.Deny(grants.CodeUnavailable, "resource %q cannot be reached to check the query against its catalog; try again later", res.Name)
	}
	return sqlscope.NewAnalyzer(sqlscope.Options{
		SearchPath:     res.SearchPath,
		ExtraFunctions: res.Functions,
		Shadowing:      &sqlscope.Shadowing{Functions: cat.Functions, Operators: cat.Operators},
		TableColumns:   cat.Columns,
	}), nil
}

// event starts an audit event carrying the session identity and prompt context.
func (s *Service) event(call Call, name, tool string) *audit.Event {
	id := call.Session.Identity
	e := &audit.Event{
		Event:   name,
		Session: id.ID,
		Agent:   id.Agent,
		Tool:    tool,
	}
	if id.Principal.Kind != "" { // unknown for a grant another process ended
		e.Principal = &audit.Principal{
			Kind: id.Principal.Kind, Subject: id.Principal.Subject, Issuer: id.Principal.Issuer,
			UID: id.Principal.UID, ParentPID: id.Principal.ParentPID, ParentCommand: id.Principal.ParentCommand,
		}
	}
	if id.ClientName != "" || id.ClientVersion != "" {
		e.Client = &audit.Client{Name: id.ClientName, Version: id.ClientVersion}
	}
	if len(call.Meta) > 0 {
		e.Meta = audit.CapMeta(call.Meta, s.cfg.Audit.MaxMetaBytes)
	}
	return e
}

// record writes e; a trail that cannot be written refuses the call.
func (s *Service) record(ctx context.Context, e *audit.Event) error {
	s.bound(e)
	if err := s.audit.Record(ctx, e); err != nil {
		s.log.ErrorContext(ctx, "audit write failed; refusing calls", slog.String("event", e.Event), slog.Any("err", err))
		return grants.Deny(grants.CodeUnavailable, "keyhole cannot write its audit trail, so it refuses to act; an admin must fix the audit file (see keyhole's log)")
	}
	return nil
}

// Caps on what an agent's arguments may take on the trail, so that one call
// cannot write megabytes into the audit file every keyhole process shares.
// The prompt context (justification, purpose) shares _meta's cap.
const (
	maxAuditName   = 256      // resource, grant id, duration, each table
	maxAuditTables = 64       // tables listed in one record
	maxAuditReason = 16 << 10 // a refusal's message may echo arguments
)

// bound cuts the agent-supplied fields of e to their caps. A cut value ends
// with a note of its full size. SQL is cut only beyond what the SQL gate
// accepts, so an allowed statement is always recorded whole.
func (s *Service) bound(e *audit.Event) {
	text := s.cfg.Audit.MaxMetaBytes
	if text <= 0 {
		text = audit.DefaultMaxMetaBytes
	}
	e.Justification = capText(e.Justification, text)
	e.Purpose = capText(e.Purpose, text)
	e.Reason = capText(e.Reason, maxAuditReason)
	e.Resource = capText(e.Resource, maxAuditName)
	e.Grant = capText(e.Grant, maxAuditName)
	e.Duration = capText(e.Duration, maxAuditName)
	if len(e.Tables) > 0 {
		n := min(len(e.Tables), maxAuditTables)
		tables := make([]string, n, n+1)
		for i := range n {
			tables[i] = capText(e.Tables[i], maxAuditName)
		}
		if len(e.Tables) > n {
			tables = append(tables, fmt.Sprintf("…[%d more]", len(e.Tables)-n))
		}
		e.Tables = tables
	}
	if e.Query != nil && len(e.Query.SQL) > sqlscope.DefaultMaxSQLBytes {
		q := *e.Query
		q.SQL = capText(q.SQL, sqlscope.DefaultMaxSQLBytes)
		e.Query = &q
	}
}

// capText returns s, or its first max bytes (cut at a character boundary)
// and a note of its full size.
func capText(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + fmt.Sprintf("…[cut: %d bytes]", len(s))
}

// SessionStarted records the start of a session with its signed identity.
func (s *Service) SessionStarted(ctx context.Context, sess *Session) error {
	e := s.event(Call{Session: sess}, audit.SessionStart, "")
	e.Identity = sess.Token
	exp := sess.Identity.Expiry
	e.ExpiresAt = &exp
	return s.record(ctx, e)
}

// SessionEnded releases every grant of the session and records the end.
func (s *Service) SessionEnded(ctx context.Context, sess *Session) error {
	ended, err := s.grants.EndSession(ctx, sess.Identity.ID)
	for _, rec := range ended {
		s.grantEnded(ctx, rec)
		e := s.event(Call{Session: sess}, audit.AccessReleased, "")
		s.fillGrant(e, rec)
		e.Reason = "session ended"
		if rerr := s.record(ctx, e); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}
	if rerr := s.record(ctx, s.event(Call{Session: sess}, audit.SessionEnd, "")); rerr != nil {
		err = errors.Join(err, rerr)
	}
	return err
}

// ExpireDue ends grants whose time has come and records each. Run it every
// second or so: a grant is refused on use past its exp anyway, this makes
// the end visible (and, with database roles, effective) without a call.
func (s *Service) ExpireDue(ctx context.Context, sessions func(id string) *Session) error {
	ended, err := s.grants.ExpireDue(ctx)
	s.endFromElsewhere(ctx)
	for _, rec := range ended {
		s.grantEnded(ctx, rec)
		sess := sessions(rec.SessionID)
		if sess == nil {
			sess = &Session{Identity: grants.SessionIdentity{ID: rec.SessionID, Agent: rec.Agent}}
		}
		e := s.event(Call{Session: sess}, audit.AccessExpired, "")
		s.fillGrant(e, rec)
		if rerr := s.record(ctx, e); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}
	return err
}

// endFromElsewhere cancels the running queries of grants that another
// process ended (`keyhole grants revoke`, another keyhole's expiry sweep).
func (s *Service) endFromElsewhere(ctx context.Context) {
	s.inflight.forget(s.grants.Now())
	for _, id := range s.inflight.grants() {
		rec, err := s.grants.Record(ctx, id)
		if err != nil {
			continue // the next sweep tries again; the query's deadline still holds
		}
		if rec.State != grants.Active {
			s.inflight.end(rec.ID, rec.ExpiresAt)
		}
	}
}

// grantEnded cancels the running queries of a grant that ended and ends its
// database role, if its resource is enforced with ephemeral roles. A
// failure to end the role is logged, not returned: the grant has ended in
// the store, so keyhole refuses its use anyway, and the role's VALID UNTIL
// and reaping are the backstops.
func (s *Service) grantEnded(ctx context.Context, rec *grants.Record) {
	s.inflight.end(rec.ID, rec.ExpiresAt)
	res := s.cfg.Resource(rec.Resource)
	if s.roles == nil || res == nil || res.Enforcement != config.EphemeralRole {
		return
	}
	if err := s.roles.End(ctx, rec); err != nil {
		s.log.ErrorContext(ctx, "ending a grant's database role failed", "grant", rec.ID, "resource", rec.Resource, "err", err)
	}
}

func (s *Service) fillGrant(e *audit.Event, rec *grants.Record) {
	e.Grant = rec.ID
	e.Resource = rec.Resource
	e.Privilege = string(rec.Scope.Privilege)
	e.Tables = scopeStrings(rec.Scope)
	exp := rec.ExpiresAt.UTC()
	e.ExpiresAt = &exp
}

func scopeStrings(sc grants.Scope) []string {
	out := make([]string, len(sc.Tables))
	for i, t := range sc.Tables {
		out[i] = t.String()
	}
	return out
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }
