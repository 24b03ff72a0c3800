package pgroles

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyholehq/keyhole/config"
	"github.com/keyholehq/keyhole/grants"
)

// Finding is one result of Check: an error keeps the resource's
// enforcement from working; a warning weakens it.
type Finding struct {
	Warning bool
	Message string
}

func (f Finding) String() string {
	if f.Warning {
		return "warning: " + f.Message
	}
	return f.Message
}

// maxListed caps how many objects one finding names.
const maxListed = 10

// Check connects to res with its DSN and verifies what its enforcement
// needs of keyhole's own role: for ephemeral-role, CREATEROLE (and not
// superuser), INHERIT, and the right to grant — grant option or ownership —
// USAGE on the schemas, SELECT on the tables (the columns, where a table is
// column-scoped), INSERT, UPDATE, DELETE on write tables and USAGE on their
// serial sequences; for set-role, membership in each mapped role. For both
// it warns about privileges PUBLIC holds in the resource's schemas, which
// every role inherits: a table, view or column readable by PUBLIC, a
// function executable by PUBLIC (SECURITY DEFINER ones run as their owner),
// CREATE on a schema. write lists the tables agents may be granted write on.
// Only a failure to connect or query is returned as an error.
func Check(ctx context.Context, res *config.Resource, write []grants.Table) ([]Finding, error) {
	cc, err := pgx.ParseConfig(res.DSN.Reveal())
	if err != nil {
		return nil, fmt.Errorf("pgroles: check %s: invalid dsn", res.Name)
	}
	if cc.ConnectTimeout == 0 {
		cc.ConnectTimeout = 10 * time.Second
	}
	cc.RuntimeParams["application_name"] = "keyhole config check"
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return nil, fmt.Errorf("pgroles: check %s: %s", res.Name, safeError(err))
	}
	defer conn.Close(context.WithoutCancel(ctx))
	c := &checker{conn: conn, res: res, write: write}
	if err := c.run(ctx); err != nil {
		return c.out, fmt.Errorf("pgroles: check %s: %s", res.Name, safeError(err))
	}
	return c.out, nil
}

type checker struct {
	conn  *pgx.Conn
	res   *config.Resource
	write []grants.Table
	out   []Finding

	user                   string
	super, createrole, inh bool
	version                int
}

func (c *checker) errorf(format string, args ...any) {
	c.out = append(c.out, Finding{Message: fmt.Sprintf(format, args...)})
}

func (c *checker) warnf(format string, args ...any) {
	c.out = append(c.out, Finding{Warning: true, Message: fmt.Sprintf(format, args...)})
}

func (c *checker) run(ctx context.Context) error {
	err := c.conn.QueryRow(ctx, `SELECT current_user, rolsuper, rolcreaterole, rolinherit, current_setting('server_version_num')::int
		FROM pg_catalog.pg_roles WHERE rolname = current_user`).Scan(&c.user, &c.super, &c.createrole, &c.inh, &c.version)
	if err != nil {
		return err
	}
	present, err := c.tables(ctx)
	if err != nil {
		return err
	}
	switch c.res.Enforcement {
	case config.EphemeralRole:
		if err := c.ephemeral(ctx, present); err != nil {
			return err
		}
	case config.SetRole:
		if err := c.setRole(ctx, present); err != nil {
			return err
		}
	default:
		if c.super {
			c.warnf("keyhole connects as %s, a superuser, and with enforcement: gate-only every query runs as that role: a parser mistake would have no limit at all", c.user)
		}
		return nil
	}
	return c.public(ctx)
}

// tables reports tables and columns of the resource that do not exist (or
// that keyhole's role cannot see) and returns the ones that do.
func (c *checker) tables(ctx context.Context) ([]grants.TableScope, error) {
	var present []grants.TableScope
	for _, ts := range c.res.Tables {
		var cols []string
		err := c.conn.QueryRow(ctx, `SELECT array(SELECT attname::text FROM pg_catalog.pg_attribute
			WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped) WHERE to_regclass($1) IS NOT NULL`,
			ident(ts.Schema, ts.Name)).Scan(&cols)
		if err == pgx.ErrNoRows {
			c.errorf("table %s does not exist, or keyhole's role %s cannot see it", ts.Table, c.user)
			continue
		}
		if err != nil {
			return nil, err
		}
		missing := false
		for _, col := range ts.Columns {
			if !slices.Contains(cols, col) {
				c.errorf("table %s has no column %q", ts.Table, col)
				missing = true
			}
		}
		if !missing {
			present = append(present, ts)
		}
	}
	return present, nil
}

func (c *checker) ephemeral(ctx context.Context, tables []grants.TableScope) error {
	switch {
	case c.super:
		c.warnf("keyhole connects as %s, a superuser; give it a role with CREATEROLE and grant options only (see the README), so that a mistake in keyhole cannot reach beyond the resource's tables", c.user)
	case !c.createrole:
		c.errorf("enforcement ephemeral-role needs CREATEROLE: ALTER ROLE %s CREATEROLE (or use enforcement: set-role)", show(c.user))
	}
	if !c.inh && !c.super {
		c.errorf("keyhole's role %s is NOINHERIT: it must inherit the roles it creates to terminate their sessions (ALTER ROLE %s INHERIT)", c.user, show(c.user))
	}
	if c.super {
		return nil // a superuser may grant anything
	}
	var publicConnect, connectGrant bool
	var db string
	if err := c.conn.QueryRow(ctx, `SELECT current_database(), has_database_privilege('public', current_database(), 'CONNECT'),
			has_database_privilege(current_user, current_database(), 'CONNECT WITH GRANT OPTION')`).Scan(&db, &publicConnect, &connectGrant); err != nil {
		return err
	}
	if !publicConnect && !connectGrant {
		c.errorf("PUBLIC may not CONNECT to database %s, so each grant's role needs CONNECT, which keyhole's role %s cannot grant: GRANT CONNECT ON DATABASE %s TO %s WITH GRANT OPTION", db, c.user, show(db), show(c.user))
	}
	schemas := map[string]bool{}
	for _, ts := range tables {
		if schemas[ts.Schema] {
			continue
		}
		schemas[ts.Schema] = true
		if ok, err := c.bool(ctx, `SELECT has_schema_privilege(current_user, $1, 'USAGE WITH GRANT OPTION')`, ts.Schema); err != nil {
			return err
		} else if !ok {
			c.errorf("keyhole's role %s cannot grant USAGE on schema %s: GRANT USAGE ON SCHEMA %s TO %s WITH GRANT OPTION", c.user, show(ts.Schema), show(ts.Schema), show(c.user))
		}
	}
	for _, ts := range tables {
		privs := []string{"SELECT"}
		if slices.Contains(c.write, ts.Table) {
			privs = append(privs, "INSERT", "UPDATE")
			if ts.Columns == nil {
				privs = append(privs, "DELETE")
			}
		}
		var lacking []string
		for _, priv := range privs {
			ok, err := c.canGrant(ctx, ts, priv)
			if err != nil {
				return err
			}
			if !ok {
				lacking = append(lacking, priv)
			}
		}
		if len(lacking) > 0 {
			target := ts.Table.String()
			if ts.Columns != nil {
				target = ts.String()
			}
			c.errorf("keyhole's role %s cannot grant %s on %s: GRANT %s ON %s TO %s WITH GRANT OPTION (or make it the owner)",
				c.user, strings.Join(lacking, ", "), target, strings.Join(lacking, ", "), ts.Table, show(c.user))
		}
	}
	if len(c.write) > 0 {
		names := make([]string, len(c.write))
		for i, t := range c.write {
			names[i] = ident(t.Schema, t.Name)
		}
		rows, err := c.conn.Query(ctx, `
			SELECT quote_ident(sn.nspname) || '.' || quote_ident(s.relname)
			FROM pg_catalog.pg_depend d
			JOIN pg_catalog.pg_class s ON s.oid = d.objid AND s.relkind = 'S'
			JOIN pg_catalog.pg_namespace sn ON sn.oid = s.relnamespace
			WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.refclassid = 'pg_catalog.pg_class'::regclass
			  AND d.deptype = 'a' AND d.refobjid = ANY (SELECT to_regclass(t) FROM unnest($1::text[]) t)
			  AND NOT has_sequence_privilege(current_user, s.oid, 'USAGE WITH GRANT OPTION')
			ORDER BY 1`, names)
		if err != nil {
			return err
		}
		seqs, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, s := range seqs {
			c.errorf("keyhole's role %s cannot grant USAGE on sequence %s, which inserts need: GRANT USAGE ON SEQUENCE %s TO %s WITH GRANT OPTION", c.user, s, s, show(c.user))
		}
	}
	return nil
}

// canGrant reports whether keyhole's role may grant priv on the table (on
// each of its columns, when it is column-scoped).
func (c *checker) canGrant(ctx context.Context, ts grants.TableScope, priv string) (bool, error) {
	table := ident(ts.Schema, ts.Name)
	if ts.Columns == nil || priv == "DELETE" {
		return c.bool(ctx, `SELECT has_table_privilege(current_user, $1, $2)`, table, priv+" WITH GRANT OPTION")
	}
	return c.bool(ctx, `SELECT bool_and(has_column_privilege(current_user, $1, col, $2)) FROM unnest($3::text[]) col`,
		table, priv+" WITH GRANT OPTION", ts.Columns)
}

func (c *checker) setRole(ctx context.Context, tables []grants.TableScope) error {
	if c.super {
		c.warnf("keyhole connects as %s, a superuser: with enforcement: set-role a statement that resets the role (RESET ROLE, set_config('role', ...)) runs as superuser, which only the SQL gate stops; use a role without superuser, or ephemeral-role", c.user)
	} else {
		c.warnf("with enforcement: set-role queries run in keyhole's own session under SET LOCAL ROLE; a statement that resets the role (RESET ROLE, set_config('role', ...)) would run with the privileges of %s, which only the SQL gate stops; ephemeral-role has no such gap", c.user)
	}
	for _, priv := range []grants.Privilege{grants.Read, grants.Write} {
		role, ok := c.res.Roles[priv]
		if !ok {
			continue
		}
		var exists bool
		if err := c.conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1)`, role).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			c.errorf("the %s role %s does not exist", priv, role)
			continue
		}
		option := "MEMBER"
		if c.version >= 160000 {
			option = "SET" // PostgreSQL 16 splits membership into INHERIT and SET
		}
		if ok, err := c.bool(ctx, `SELECT pg_has_role(current_user, $1, $2)`, role, option); err != nil {
			return err
		} else if !ok {
			c.errorf("keyhole's role %s may not SET ROLE %s: GRANT %s TO %s", c.user, role, show(role), show(c.user))
		}
		if priv != grants.Read {
			continue
		}
		for _, ts := range tables {
			ok, err := c.bool(ctx, `SELECT has_table_privilege($1, $2, 'INSERT') OR has_table_privilege($1, $2, 'UPDATE') OR has_table_privilege($1, $2, 'DELETE')`,
				role, ident(ts.Schema, ts.Name))
			if err != nil {
				return err
			}
			if ok {
				c.warnf("the read role %s may write to %s; only the READ ONLY transaction stops a write under a read grant", role, ts.Table)
			}
		}
	}
	return nil
}

// public warns about privileges PUBLIC holds in the resource's schemas
// (those of its tables and its search_path).
func (c *checker) public(ctx context.Context) error {
	var schemas []string
	for _, ts := range c.res.Tables {
		if !slices.Contains(schemas, ts.Schema) {
			schemas = append(schemas, ts.Schema)
		}
	}
	for _, s := range c.res.SearchPath {
		if !slices.Contains(schemas, s) {
			schemas = append(schemas, s)
		}
	}
	creatable, err := c.strings(ctx, `SELECT n.nspname FROM pg_catalog.pg_namespace n,
			aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a
		WHERE n.nspname = ANY ($1) AND a.grantee = 0 AND a.privilege_type = 'CREATE' ORDER BY 1`, schemas)
	if err != nil {
		return err
	}
	for _, s := range creatable {
		c.warnf("PUBLIC may CREATE in schema %s, so every grant's role may create objects there (the default before PostgreSQL 15): REVOKE CREATE ON SCHEMA %s FROM PUBLIC", s, show(s))
	}
	rels, err := c.strings(ctx, `SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) || ' (' ||
			CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence' WHEN 'f' THEN 'foreign table' ELSE 'table' END
			|| ': ' || string_agg(DISTINCT a.privilege_type, ', ') || ')'
		FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace, aclexplode(c.relacl) a
		WHERE n.nspname = ANY ($1) AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND a.grantee = 0
		GROUP BY n.nspname, c.relname, c.relkind ORDER BY 1`, schemas)
	if err != nil {
		return err
	}
	if len(rels) > 0 {
		c.warnf("PUBLIC holds privileges on %s; every grant's role inherits them, and a view reads with its owner's privileges: REVOKE ALL ON ... FROM PUBLIC", list(rels))
	}
	cols, err := c.strings(ctx, `SELECT DISTINCT quote_ident(n.nspname) || '.' || quote_ident(c.relname) || '.' || quote_ident(att.attname)
		FROM pg_catalog.pg_attribute att JOIN pg_catalog.pg_class c ON c.oid = att.attrelid
		JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace, aclexplode(att.attacl) a
		WHERE n.nspname = ANY ($1) AND a.grantee = 0 ORDER BY 1`, schemas)
	if err != nil {
		return err
	}
	if len(cols) > 0 {
		c.warnf("PUBLIC holds column privileges on %s, which every grant's role inherits", list(cols))
	}
	definers, err := c.strings(ctx, `SELECT p.oid::regprocedure::text FROM pg_catalog.pg_proc p
			JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace,
			aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
		WHERE n.nspname = ANY ($1) AND a.grantee = 0 AND a.privilege_type = 'EXECUTE' AND p.prosecdef ORDER BY 1`, schemas)
	if err != nil {
		return err
	}
	for _, f := range definers {
		c.warnf("PUBLIC may EXECUTE %s, a SECURITY DEFINER function: it runs with its owner's privileges, so any grant's role can reach what it reaches: REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC", f, f)
	}
	invokers, err := c.strings(ctx, `SELECT p.oid::regprocedure::text FROM pg_catalog.pg_proc p
			JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace,
			aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
		WHERE n.nspname = ANY ($1) AND a.grantee = 0 AND a.privilege_type = 'EXECUTE' AND NOT p.prosecdef ORDER BY 1`, schemas)
	if err != nil {
		return err
	}
	if len(invokers) > 0 {
		c.warnf("PUBLIC may EXECUTE %s (functions get EXECUTE for PUBLIC by default); they run with the caller's privileges, but each widens what a grant's role can do: REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA ... FROM PUBLIC, or move them out of the resource's schemas", list(invokers))
	}
	return nil
}

func (c *checker) bool(ctx context.Context, sql string, args ...any) (bool, error) {
	var ok *bool
	if err := c.conn.QueryRow(ctx, sql, args...).Scan(&ok); err != nil {
		return false, err
	}
	return ok != nil && *ok, nil
}

func (c *checker) strings(ctx context.Context, sql string, args ...any) ([]string, error) {
	rows, err := c.conn.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// list names at most maxListed items and counts the rest.
func list(items []string) string {
	if len(items) <= maxListed {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:maxListed], ", "), len(items)-maxListed)
}

var plainIdent = regexp.MustCompile(`^[a-z_][a-z0-9_$]*$`)

// show renders an identifier for a message, quoted only when it must be.
func show(s string) string {
	if plainIdent.MatchString(s) {
		return s
	}
	return ident(s)
}
