package pgroles

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/keyholehq/keyhole/config"
	"github.com/keyholehq/keyhole/grants"
)

// Sizes and bounds of each grant's role and pool.
const (
	// PoolConns is how many connections a grant's pool may hold at once.
	PoolConns = 2
	// ConnectionLimit is the role's CONNECTION LIMIT: one more than the
	// pool, because PostgreSQL may still count a connection the pool has
	// just closed.
	ConnectionLimit = PoolConns + 1
	// poolIdleTime frees a connection slot of a grant that stopped querying.
	poolIdleTime = time.Minute
	// endTimeout bounds ending one role (terminate, wait, drop), whatever
	// the caller's context says: an end must not be abandoned half-way.
	endTimeout = 30 * time.Second
	// terminateWait bounds how long End waits for terminated backends to go.
	terminateWait = 10 * time.Second
	// connectTimeout applies when the DSN sets no connect_timeout.
	connectTimeout = 10 * time.Second
)

// ErrNotFound means the role does not exist (any more).
var ErrNotFound = errors.New("pgroles: role not found")

// Provisioner creates, ends and reaps the ephemeral roles of one resource.
// It connects with the resource's DSN — keyhole's own role, which needs
// CREATEROLE and the right to grant what it hands out, never superuser. It
// is safe for concurrent use.
type Provisioner struct {
	res   *config.Resource
	base  *pgxpool.Config // the resource's DSN, parsed once; never logged
	names *regexp.Regexp  // the names RoleName makes for this prefix
	log   *slog.Logger

	mu     sync.Mutex
	admin  *pgxpool.Pool
	db     *dbInfo
	closed bool

	// The holder: one connection that holds a session-level advisory lock
	// on holderKey for as long as this process lives. Every role created
	// here names the key in its comment; when the process dies, its
	// connection closes, the lock goes, and Reap knows the role is orphaned
	// even though its grant is still active in the store.
	holderMu  sync.Mutex
	holder    *pgx.Conn
	holderKey int64
}

type dbInfo struct {
	name          string
	publicConnect bool // PUBLIC may CONNECT, so roles need no CONNECT grant
}

// NewProvisioner prepares a provisioner for res; it connects on first use.
func NewProvisioner(res *config.Resource, log *slog.Logger) (*Provisioner, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if !prefixRE.MatchString(res.RolePrefix) {
		return nil, fmt.Errorf("pgroles: resource %s: role prefix must match %s", res.Name, prefixRE)
	}
	pc, err := pgxpool.ParseConfig(res.DSN.Reveal())
	if err != nil {
		// The parse error may quote the DSN: never pass it on.
		return nil, fmt.Errorf("pgroles: resource %s: invalid dsn", res.Name)
	}
	if pc.ConnConfig.ConnectTimeout <= 0 {
		// A server that does not answer must not hold an agent's call for
		// pgx's default two minutes.
		pc.ConnConfig.ConnectTimeout = connectTimeout
	}
	return &Provisioner{res: res, base: pc, names: regexp.MustCompile(namePattern(res.RolePrefix)), log: log.With("resource", res.Name)}, nil
}

// LogValue shows the resource and prefix only: the provisioner holds
// keyhole's DSN, which must never be printed.
func (p *Provisioner) LogValue() slog.Value {
	return slog.GroupValue(slog.String("resource", p.res.Name), slog.String("prefix", p.res.RolePrefix))
}

// String is LogValue for fmt.
func (p *Provisioner) String() string {
	return "pgroles.Provisioner{resource: " + p.res.Name + ", prefix: " + p.res.RolePrefix + "}"
}

// GoString is String: %#v must not dump the DSN either.
func (p *Provisioner) GoString() string { return p.String() }

// Prefix is the prefix of this resource's role names.
func (p *Provisioner) Prefix() string { return p.res.RolePrefix }

// Close closes keyhole's own connections; it does not end any role.
func (p *Provisioner) Close() {
	p.mu.Lock()
	p.closed = true
	if p.admin != nil {
		p.admin.Close()
		p.admin = nil
	}
	p.mu.Unlock()
	p.holderMu.Lock()
	defer p.holderMu.Unlock()
	if p.holder != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p.holder.Close(ctx)
		p.holder = nil
	}
}

// hold makes sure the holder connection is open and holds its lock. With
// ping, it also checks that the connection still works and replaces it if
// not (run from the one-second sweep).
func (p *Provisioner) hold(ctx context.Context, ping bool) error {
	p.holderMu.Lock()
	defer p.holderMu.Unlock()
	if p.holder != nil && !p.holder.IsClosed() {
		if !ping {
			return nil
		}
		if err := p.holder.Ping(ctx); err == nil {
			return nil
		}
		p.holder.Close(ctx)
		p.holder = nil
	}
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return ErrClosed
	}
	cc := p.base.ConnConfig.Copy()
	cc.RuntimeParams["application_name"] = "keyhole roles holder"
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return fmt.Errorf("pgroles: resource %s: holder: %s", p.res.Name, safeError(err))
	}
	for {
		if p.holderKey == 0 {
			p.holderKey = randomKey()
		}
		var got bool
		if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", p.holderKey).Scan(&got); err != nil {
			conn.Close(ctx)
			return fmt.Errorf("pgroles: resource %s: holder: %s", p.res.Name, safeError(err))
		}
		if got {
			break
		}
		p.holderKey = 0 // taken by another process: draw again
	}
	p.holder = conn
	return nil
}

// KeepAlive checks the holder connection and reopens it if it broke, so
// that other processes do not take this process's roles for orphans. It
// does nothing before the first role was created.
func (p *Provisioner) KeepAlive(ctx context.Context) error {
	p.holderMu.Lock()
	started := p.holder != nil || p.holderKey != 0
	p.holderMu.Unlock()
	if !started {
		return nil
	}
	return p.hold(ctx, true)
}

func (p *Provisioner) pool(ctx context.Context) (*pgxpool.Pool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.admin != nil {
		return p.admin, nil
	}
	if p.closed {
		return nil, ErrClosed
	}
	pc := p.base.Copy()
	pc.MaxConns = 4
	pc.MaxConnIdleTime = poolIdleTime
	pc.ConnConfig.RuntimeParams["application_name"] = "keyhole roles"
	admin, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("pgroles: resource %s: %s", p.res.Name, safeError(err))
	}
	p.admin = admin
	return admin, nil
}

func (p *Provisioner) info(ctx context.Context, admin *pgxpool.Pool) (*dbInfo, error) {
	p.mu.Lock()
	db := p.db
	p.mu.Unlock()
	if db != nil {
		return db, nil
	}
	db = &dbInfo{}
	err := admin.QueryRow(ctx, `SELECT current_database(), has_database_privilege('public', current_database(), 'CONNECT')`).
		Scan(&db.name, &db.publicConnect)
	if err != nil {
		return nil, fmt.Errorf("pgroles: resource %s: %s", p.res.Name, safeError(err))
	}
	p.mu.Lock()
	p.db = db
	p.mu.Unlock()
	return db, nil
}

// Spec describes the role of one grant.
type Spec struct {
	// Name is RoleName(prefix, token) of the grant.
	Name  string
	Scope grants.Scope
	// ValidUntil is the grant's expiry: PostgreSQL refuses the password
	// after it, a backstop for a keyhole that died without ending the role.
	ValidUntil time.Time
	// ApplicationName is shown in pg_stat_activity for the role's sessions.
	ApplicationName string
}

// Role is a live ephemeral role and the pool of connections that log in as
// it. Its password exists only inside the pool's configuration, in this
// process's memory.
type Role struct {
	name string
	pool *pgxpool.Pool
}

// Name is the role's name in PostgreSQL.
func (r *Role) Name() string { return r.name }

// Pool is the pool of connections authenticated as the role.
func (r *Role) Pool() *pgxpool.Pool { return r.pool }

// LogValue shows the role's name only.
func (r *Role) LogValue() slog.Value { return slog.StringValue(r.name) }

// String shows the role's name only.
func (r *Role) String() string { return r.name }

// Create creates the role of a grant with exactly the grant's privileges,
// in one transaction: either all of it exists or none of it does. The pool
// it returns connects lazily, on the grant's first query.
func (p *Provisioner) Create(ctx context.Context, spec Spec) (*Role, error) {
	if !p.names.MatchString(spec.Name) {
		return nil, fmt.Errorf("pgroles: %q is not a role name of prefix %q", spec.Name, p.res.RolePrefix)
	}
	admin, err := p.pool(ctx)
	if err != nil {
		return nil, err
	}
	db, err := p.info(ctx, admin)
	if err != nil {
		return nil, err
	}
	if err := p.hold(ctx, false); err != nil {
		return nil, err
	}
	var seqs []string
	if spec.Scope.Privilege == grants.Write {
		if seqs, err = ownedSequences(ctx, admin, spec.Scope); err != nil {
			return nil, fmt.Errorf("pgroles: create %s: sequences: %s", spec.Name, safeError(err))
		}
	}
	password, verifier, err := newVerifier()
	if err != nil {
		return nil, err
	}
	p.holderMu.Lock()
	key := p.holderKey
	p.holderMu.Unlock()
	sql, err := p.createSQL(spec, verifier, seqs, db, key)
	if err != nil {
		return nil, err
	}
	// No parameters: a multi-statement simple query, one implicit transaction.
	if _, err := admin.Exec(ctx, sql); err != nil {
		if sqlState(err) == "" {
			// No answer from the server (a cancelled call, a lost
			// connection): the transaction may have committed all the
			// same, leaving a role nobody holds. Make sure it is gone.
			_ = p.Drop(ctx, spec.Name)
		}
		return nil, fmt.Errorf("pgroles: create %s: %s", spec.Name, safeError(err))
	}
	pc := p.base.Copy()
	pc.ConnConfig.User = spec.Name
	pc.ConnConfig.Password = password
	// Only what the role needs: run-time parameters of keyhole's DSN (an
	// options=-c role=..., a search_path) would override the role's settings.
	params := map[string]string{"application_name": appName(spec.ApplicationName)}
	if enc, ok := p.base.ConnConfig.RuntimeParams["client_encoding"]; ok {
		params["client_encoding"] = enc
	}
	pc.ConnConfig.RuntimeParams = params
	pc.MaxConns = PoolConns
	pc.MinConns = 0
	pc.MaxConnIdleTime = poolIdleTime
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		_ = p.Drop(ctx, spec.Name)
		return nil, fmt.Errorf("pgroles: pool for %s: %s", spec.Name, safeError(err))
	}
	p.log.DebugContext(ctx, "role created", "role", spec.Name, "privilege", spec.Scope.Privilege)
	return &Role{name: spec.Name, pool: pool}, nil
}

// createSQL renders the statements that create the role. Identifiers are
// quoted by pgx; the two literals (verifier and timestamp) pass a strict
// character check, as DDL cannot take bind parameters.
func (p *Provisioner) createSQL(spec Spec, verifier string, seqs []string, db *dbInfo, holder int64) (string, error) {
	role := ident(spec.Name)
	pw, err := literal(verifier)
	if err != nil {
		return "", err
	}
	until, err := literal(spec.ValidUntil.UTC().Format("2006-01-02 15:04:05.000000+00"))
	if err != nil {
		return "", err
	}
	timeout := p.res.Limits.StatementTimeout
	if timeout <= 0 {
		timeout = config.DefaultStatementTimeout
	}
	path := p.res.SearchPath
	if len(path) == 0 {
		path = []string{"public"}
	}
	quoted := make([]string, len(path))
	for i, s := range path {
		quoted[i] = ident(s)
	}

	var b strings.Builder
	stmt := func(format string, args ...any) {
		fmt.Fprintf(&b, format, args...)
		b.WriteString(";\n")
	}
	stmt("CREATE ROLE %s LOGIN PASSWORD %s VALID UNTIL %s CONNECTION LIMIT %d NOSUPERUSER NOINHERIT NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS",
		role, pw, until, ConnectionLimit)
	// keyhole's own role becomes a member, so it may terminate the role's
	// backends and revoke what it granted, without pg_signal_backend.
	stmt("COMMENT ON ROLE %s IS 'keyhole holder %d'", role, holder)
	stmt("GRANT %s TO CURRENT_USER", role)
	if spec.Scope.Privilege != grants.Write {
		stmt("ALTER ROLE %s SET default_transaction_read_only = on", role)
	}
	stmt("ALTER ROLE %s SET statement_timeout = %d", role, timeout.Milliseconds())
	stmt("ALTER ROLE %s SET lock_timeout = %d", role, timeout.Milliseconds())
	stmt("ALTER ROLE %s SET idle_in_transaction_session_timeout = %d", role, timeout.Milliseconds()+1000)
	stmt("ALTER ROLE %s SET search_path = %s", role, strings.Join(quoted, ", "))
	if !db.publicConnect {
		stmt("GRANT CONNECT ON DATABASE %s TO %s", ident(db.name), role)
	}
	schemas := map[string]bool{}
	for _, ts := range spec.Scope.Tables {
		if !schemas[ts.Schema] {
			schemas[ts.Schema] = true
			stmt("GRANT USAGE ON SCHEMA %s TO %s", ident(ts.Schema), role)
		}
	}
	for _, ts := range spec.Scope.Tables {
		stmt("GRANT %s ON TABLE %s TO %s", privileges(spec.Scope.Privilege, ts.Columns), ident(ts.Schema, ts.Name), role)
	}
	for _, s := range seqs {
		stmt("GRANT USAGE ON SEQUENCE %s TO %s", s, role)
	}
	return b.String(), nil
}

// privileges is the privilege list of one table: SELECT for read; SELECT,
// INSERT, UPDATE, DELETE for write (a write needs SELECT for its WHERE and
// RETURNING). Column-scoped grants get column privileges and no DELETE,
// which removes whole rows.
func privileges(p grants.Privilege, cols []string) string {
	if cols == nil {
		if p == grants.Write {
			return "SELECT, INSERT, UPDATE, DELETE"
		}
		return "SELECT"
	}
	quoted := make([]string, len(cols))
	for i, c := range cols {
		quoted[i] = ident(c)
	}
	list := " (" + strings.Join(quoted, ", ") + ")"
	if p == grants.Write {
		return "SELECT" + list + ", INSERT" + list + ", UPDATE" + list
	}
	return "SELECT" + list
}

// ownedSequences lists the sequences owned by the scope's tables (serial
// columns), whose nextval a column default calls with the inserting role's
// privileges. Identity columns need no grant.
func ownedSequences(ctx context.Context, admin *pgxpool.Pool, scope grants.Scope) ([]string, error) {
	tables := make([]string, len(scope.Tables))
	for i, ts := range scope.Tables {
		tables[i] = ident(ts.Schema, ts.Name)
	}
	rows, err := admin.Query(ctx, `
		SELECT DISTINCT quote_ident(sn.nspname) || '.' || quote_ident(s.relname)
		FROM pg_catalog.pg_depend d
		JOIN pg_catalog.pg_class s ON s.oid = d.objid AND s.relkind = 'S'
		JOIN pg_catalog.pg_namespace sn ON sn.oid = s.relnamespace
		WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.refclassid = 'pg_catalog.pg_class'::regclass
		  AND d.deptype = 'a' AND d.refobjid = ANY ($1::text[]::regclass[])
		ORDER BY 1`, tables)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// End ends a live role: no new logins, every backend terminated (running
// queries fail with SQLSTATE 57P01), the pool closed, then the role's
// privileges revoked and the role dropped. It runs to completion even when
// ctx is cancelled, within a bound of its own.
func (p *Provisioner) End(ctx context.Context, r *Role) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), endTimeout)
	defer cancel()
	err := p.terminate(ctx, r.name)
	// Terminated connections are released at once, so Close does not wait
	// on a running query.
	r.pool.Close()
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	return p.drop(ctx, r.name)
}

// Drop ends the role called name that this process does not hold (another
// keyhole process created it, or one that died): it terminates its backends
// and drops it. A role that no longer exists is not an error.
func (p *Provisioner) Drop(ctx context.Context, name string) error {
	if !p.names.MatchString(name) {
		return fmt.Errorf("pgroles: %q is not a role name of prefix %q", name, p.res.RolePrefix)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), endTimeout)
	defer cancel()
	if err := p.terminate(ctx, name); err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		return err
	}
	return p.drop(ctx, name)
}

// terminate forbids new logins of the role and terminates its backends,
// waiting until pg_stat_activity shows none.
func (p *Provisioner) terminate(ctx context.Context, name string) error {
	admin, err := p.pool(ctx)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		_, err := admin.Exec(ctx, "ALTER ROLE "+ident(name)+" NOLOGIN")
		if err == nil {
			break
		}
		switch sqlState(err) {
		case "42704": // undefined_object
			return ErrNotFound
		case "XX000": // tuple concurrently updated: another process ends it too
			if attempt < 3 {
				continue
			}
		}
		return fmt.Errorf("pgroles: end %s: %s", name, safeError(err))
	}
	deadline := time.Now().Add(terminateWait)
	for {
		var left int
		err := admin.QueryRow(ctx, `SELECT count(*) FROM (
				SELECT pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity
				WHERE usename = $1 AND pid <> pg_backend_pid()) t`, name).Scan(&left)
		if err != nil {
			return fmt.Errorf("pgroles: end %s: terminate: %s", name, safeError(err))
		}
		if left == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pgroles: end %s: %d backend(s) still running after termination", name, left)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pgroles: end %s: %w", name, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// drop revokes the role's privileges in this database and drops it. The
// revokes are explicit, one per object the role holds a privilege on (as
// pg_shdepend records), and name only privileges keyhole grants: DROP OWNED
// alone would also revoke column privileges of sequences, which keyhole's
// role need not hold, and fail.
func (p *Provisioner) drop(ctx context.Context, name string) error {
	admin, err := p.pool(ctx)
	if err != nil {
		return err
	}
	err = p.dropOnce(ctx, admin, name)
	if err == nil || errors.Is(err, ErrNotFound) {
		return nil
	}
	// Another process may have dropped it first.
	var exists bool
	if qerr := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1)`, name).Scan(&exists); qerr == nil && !exists {
		return nil
	}
	return err
}

func (p *Provisioner) dropOnce(ctx context.Context, admin *pgxpool.Pool, name string) error {
	rows, err := admin.Query(ctx, `
		WITH r AS (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = $1),
		deps AS (
			SELECT d.classid, d.objid FROM pg_catalog.pg_shdepend d, r
			WHERE d.refclassid = 'pg_catalog.pg_authid'::regclass AND d.refobjid = r.oid AND d.deptype = 'a'
			  AND d.dbid IN (0, (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())))
		SELECT 'SCHEMA', quote_ident(n.nspname) FROM deps JOIN pg_catalog.pg_namespace n
			ON deps.classid = 'pg_catalog.pg_namespace'::regclass AND n.oid = deps.objid
		UNION ALL
		SELECT CASE WHEN c.relkind = 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, quote_ident(cn.nspname) || '.' || quote_ident(c.relname)
			FROM deps JOIN pg_catalog.pg_class c ON deps.classid = 'pg_catalog.pg_class'::regclass AND c.oid = deps.objid
			JOIN pg_catalog.pg_namespace cn ON cn.oid = c.relnamespace
		UNION ALL
		SELECT 'DATABASE', quote_ident(db.datname) FROM deps JOIN pg_catalog.pg_database db
			ON deps.classid = 'pg_catalog.pg_database'::regclass AND db.oid = deps.objid
		UNION ALL
		SELECT 'ROLE', '' FROM r`, name)
	if err != nil {
		return fmt.Errorf("pgroles: drop %s: %s", name, safeError(err))
	}
	role := ident(name)
	var b strings.Builder
	found := false
	var kind, object string
	_, err = pgx.ForEachRow(rows, []any{&kind, &object}, func() error {
		switch kind {
		case "ROLE":
			found = true
		case "SCHEMA":
			fmt.Fprintf(&b, "REVOKE USAGE ON SCHEMA %s FROM %s;\n", object, role)
		case "SEQUENCE":
			fmt.Fprintf(&b, "REVOKE USAGE ON SEQUENCE %s FROM %s;\n", object, role)
		case "TABLE":
			fmt.Fprintf(&b, "REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLE %s FROM %s;\n", object, role)
		case "DATABASE":
			fmt.Fprintf(&b, "REVOKE CONNECT ON DATABASE %s FROM %s;\n", object, role)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("pgroles: drop %s: %s", name, safeError(err))
	}
	if !found {
		return ErrNotFound
	}
	// DROP OWNED removes what the role may have created (a table in a
	// schema where PUBLIC may CREATE, say); then nothing holds the role.
	fmt.Fprintf(&b, "DROP OWNED BY %s;\nDROP ROLE %s;\n", role, role)
	if _, err := admin.Exec(ctx, b.String()); err != nil {
		if sqlState(err) == "42704" {
			return ErrNotFound
		}
		return fmt.Errorf("pgroles: drop %s: %s", name, safeError(err))
	}
	return nil
}

// Reap drops every role of this resource's prefix that no live grant owns:
// roles left by a keyhole that was killed, or that lost its database before
// it could end them. A role is owned when its grant is active (owned
// returns the role names of every active grant in the shared store) and the
// process that created it still holds its advisory lock; a killed process
// leaves its grants active in the store, but its lock dies with its
// connection. owned is called after the roles are listed, so a role created
// meanwhile (always after its grant was stored, by a live process) is never
// taken for an orphan. Only names RoleName can produce are considered.
func (p *Provisioner) Reap(ctx context.Context, owned func(context.Context) (map[string]bool, error)) ([]string, error) {
	admin, err := p.pool(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := admin.Query(ctx, `
		WITH holders AS (
			SELECT (l.classid::bigint << 32) | l.objid::bigint AS key FROM pg_catalog.pg_locks l
			WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted)
		SELECT r.rolname, EXISTS (SELECT 1 FROM holders h
			WHERE h.key::text = substring(shobj_description(r.oid, 'pg_authid') FROM '^keyhole holder ([0-9]+)$'))
		FROM pg_catalog.pg_roles r
		WHERE r.rolname ~ $1 AND NOT r.rolsuper AND NOT r.rolinherit ORDER BY r.rolname`, namePattern(p.res.RolePrefix))
	if err != nil {
		return nil, fmt.Errorf("pgroles: reap: %s", safeError(err))
	}
	type found struct {
		name  string
		alive bool // the process that created it still runs
	}
	var roles []found
	var f found
	if _, err := pgx.ForEachRow(rows, []any{&f.name, &f.alive}, func() error {
		roles = append(roles, f)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("pgroles: reap: %s", safeError(err))
	}
	if len(roles) == 0 {
		return nil, nil
	}
	keep, err := owned(ctx)
	if err != nil {
		return nil, fmt.Errorf("pgroles: reap: %w", err)
	}
	var dropped []string
	var errs []error
	for _, r := range roles {
		name := r.name
		if keep[name] && r.alive {
			continue
		}
		if err := p.Drop(ctx, name); err != nil {
			errs = append(errs, err)
			continue
		}
		dropped = append(dropped, name)
	}
	return dropped, errors.Join(errs...)
}

// ident quotes an identifier (or a qualified name) for SQL.
func ident(parts ...string) string { return pgx.Identifier(parts).Sanitize() }

// randomKey draws a positive 63-bit advisory lock key.
func randomKey() int64 {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("pgroles: crypto/rand failed: " + err.Error())
	}
	k := int64(binary.BigEndian.Uint64(b[:]) >> 1)
	if k == 0 {
		k = 1
	}
	return k
}

// appName keeps printable ASCII, at most 63 bytes (PostgreSQL's limit).
func appName(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s) && len(b) < 63; i++ {
		if c := s[i]; c >= 0x20 && c < 0x7f {
			b = append(b, c)
		}
	}
	if len(b) == 0 {
		return "keyhole"
	}
	return string(b)
}

func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// safeError describes an error without anything that could hold a secret:
// a PostgreSQL error by SQLSTATE and message (never the statement, which
// may carry a password verifier), a connection failure generically.
func safeError(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return fmt.Sprintf("SQLSTATE %s: %s", pgErr.Code, pgErr.Message)
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return "cannot connect to the database"
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return err.Error()
	}
	return "database error"
}
