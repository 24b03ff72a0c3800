package config

import (
	"errors"
	"net/url"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/keyholehq/keyhole/grants"
	"gopkg.in/yaml.v3"
)

var (
	resourceNameRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)
	rolePrefixRE   = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,15}$`)
)

// resourcesInfo keeps the lines that cross-checks need alongside the resources.
type resourcesInfo struct {
	list   []*resourceInfo
	byName map[string]*resourceInfo
}

type resourceInfo struct {
	res             *Resource
	enforcementLine int
	rolesLine       int
	tableLines      map[grants.Table]int
}

func (d *decoder) resources(where string, n *yaml.Node) *resourcesInfo {
	info := &resourcesInfo{byName: make(map[string]*resourceInfo)}
	ps := d.pairs(where, n, "a mapping of resource names to resources")
	for _, p := range ps {
		w := join(where, p.key)
		if !resourceNameRE.MatchString(p.key) {
			d.errorf(p.k.Line, w, "resource name must match ^[a-z][a-z0-9_-]*$ (at most 63 characters)")
		}
		ri := d.resource(w, p.key, p.k, p.v)
		info.list = append(info.list, ri)
		info.byName[p.key] = ri
	}
	if n.Kind == yaml.MappingNode && len(ps) == 0 && len(n.Content) == 0 {
		d.errorf(n.Line, where, "at least one resource is required")
	}
	return info
}

func (d *decoder) resource(where, name string, k, n *yaml.Node) *resourceInfo {
	r := &Resource{
		Name:        name,
		Enforcement: DefaultEnforcement,
		Limits: Limits{
			MaxRows:          DefaultMaxRows,
			MaxResultBytes:   DefaultMaxResultBytes,
			StatementTimeout: DefaultStatementTimeout,
		},
		SearchPath: []string{"public"},
		RolePrefix: DefaultRolePrefix,
		Line:       k.Line,
	}
	ri := &resourceInfo{res: r, tableLines: make(map[grants.Table]int)}
	if isNull(n) {
		d.errorf(k.Line, where, "want a mapping with at least dsn and tables")
		return ri
	}
	present := d.fields(where, n, "a mapping with at least dsn and tables", handlers{
		"description": func(where string, v *yaml.Node) { r.Description, _ = d.scalar(where, v) },
		"dsn":         func(where string, v *yaml.Node) { d.dsn(where, v, r) },
		"enforcement": func(where string, v *yaml.Node) {
			ri.enforcementLine = v.Line
			if s, ok := d.enum(where, v, string(EphemeralRole), string(SetRole), string(GateOnly)); ok {
				r.Enforcement = Enforcement(s)
			}
		},
		"tables": func(where string, v *yaml.Node) { d.tables(where, v, ri) },
		"limits": func(where string, v *yaml.Node) { d.limits(where, v, &r.Limits) },
		"search_path": func(where string, v *yaml.Node) {
			if names, ok := d.identList(where, v, "schema"); ok {
				for _, n := range names {
					// The SQL gate resolves names under exactly this path:
					// schemas PostgreSQL adds or resolves per role have no place.
					if n == "pg_catalog" || n == "pg_temp" || n == "$user" || n == "information_schema" {
						d.errorf(v.Line, where, "%q may not be listed (pg_catalog is always searched first; temporary and per-user schemas are never searched)", n)
						return
					}
				}
				r.SearchPath = names
			}
		},
		"functions": func(where string, v *yaml.Node) { r.Functions = d.functions(where, v) },
		"role_prefix": func(where string, v *yaml.Node) {
			if s, ok := d.scalar(where, v); ok {
				if !rolePrefixRE.MatchString(s) {
					d.errorf(v.Line, where, "%q must match ^[a-z_][a-z0-9_]{0,15}$", s)
					return
				}
				r.RolePrefix = s
			}
		},
		"roles": func(where string, v *yaml.Node) {
			ri.rolesLine = v.Line
			r.Roles = d.roles(where, v)
		},
	})
	if present == nil {
		return ri
	}
	line := k.Line
	if !present["dsn"] {
		d.errorf(line, where, "dsn is required (for example dsn: ${%s_DSN})", envName(name))
	}
	if !present["tables"] {
		d.errorf(line, where, "tables is required: list the tables that may ever be granted")
	}
	if ri.enforcementLine == 0 {
		ri.enforcementLine = line
	}
	switch r.Enforcement {
	case GateOnly:
		d.warnf(ri.enforcementLine, join(where, "enforcement"),
			"keyhole's parser is the only lock: queries run with keyhole's own credentials, so a parser mistake reaches the data; use ephemeral-role or set-role")
	case SetRole:
		if len(r.Roles) == 0 && ri.rolesLine == 0 {
			d.errorf(ri.enforcementLine, join(where, "enforcement"), "set-role needs roles: {read: ROLE, write: ROLE}")
		}
	}
	if r.Enforcement != SetRole && ri.rolesLine != 0 {
		d.warnf(ri.rolesLine, join(where, "roles"), "roles are used only with enforcement: set-role")
	}
	return ri
}

// envName suggests an environment variable name for a resource.
func envName(resource string) string {
	return strings.ToUpper(strings.NewReplacer("-", "_").Replace(resource))
}

// dsn reads a connection string. Its value may hold a password, so no
// message here ever quotes it.
func (d *decoder) dsn(where string, n *yaml.Node, r *Resource) {
	if d.alias(where, n) {
		return
	}
	if n.Kind != yaml.ScalarNode {
		d.errorf(n.Line, where, "want a single value, not %s", describe(n))
		return
	}
	var failed bool
	val, literal, msgs := expand(n.Value, func(name string) (string, string) {
		return d.lookup(name, expandOpts{secret: true})
	}, true)
	for _, m := range msgs {
		d.errorf(n.Line, where, "%s", m)
		failed = true
	}
	if failed {
		return
	}
	if strings.TrimSpace(val) == "" {
		d.errorf(n.Line, where, "is empty; want a postgres:// URL or key=value connection string")
		return
	}
	pc, err := pgx.ParseConfig(val)
	if err != nil {
		d.errorf(n.Line, where, "not a PostgreSQL connection string (%s); want postgres://USER@HOST:PORT/DB or host=... dbname=...; the value is not shown as it may hold a password", dsnErrorReason(err))
		return
	}
	if pw := pc.Password; pw != "" && writtenInline(pw, literal) {
		d.warnf(n.Line, where, "password written inline in the file; put secrets in the environment (dsn: ${%s_DSN})", envName(r.Name))
	}
	r.DSN = NewSecret(val)
}

// dsnErrorReason is pgconn's reason for rejecting a connection string,
// without the string itself or any underlying error that might quote it.
func dsnErrorReason(err error) string {
	var pe *pgconn.ParseConfigError
	if !errors.As(err, &pe) {
		return "unparseable"
	}
	bare := *pe
	bare.ConnString = ""
	s := strings.TrimPrefix(bare.Error(), "cannot parse ``: ")
	if inner := errors.Unwrap(pe); inner != nil {
		s = strings.TrimSuffix(s, " ("+inner.Error()+")")
	}
	return s
}

// writtenInline reports whether password pw appears in the literal text of
// the file (as opposed to coming from ${NAME}, PGPASSWORD or a pgpass file).
func writtenInline(pw, literal string) bool {
	for _, form := range []string{pw, url.PathEscape(pw), url.QueryEscape(pw), url.UserPassword("", pw).String()[1:]} {
		if form != "" && strings.Contains(literal, form) {
			return true
		}
	}
	return false
}

// tables reads the tables a resource may ever grant:
//
//	public.orders: {}
//	public.customers: {columns: [id, name]}
func (d *decoder) tables(where string, n *yaml.Node, ri *resourceInfo) {
	ps := d.pairs(where, n, "a mapping of schema.table to {} or {columns: [...]}")
	if n.Kind == yaml.MappingNode && len(n.Content) == 0 {
		d.errorf(n.Line, where, "at least one table is required")
	}
	for _, p := range ps {
		w := join(where, p.key)
		ts, err := grants.ParseTableScope(p.key)
		if err != nil {
			d.errorf(p.k.Line, w, "%v", err)
			continue
		}
		if ts.Columns != nil {
			d.errorf(p.k.Line, w, "write columns as %s: {columns: [...]}", ts.Table)
			continue
		}
		if first, dup := ri.tableLines[ts.Table]; dup {
			d.errorf(p.k.Line, w, "table %s is already listed at line %d", ts.Table, first)
			continue
		}
		ri.tableLines[ts.Table] = p.k.Line
		if !isNull(p.v) {
			d.fields(w, p.v, "{} or {columns: [...]}", handlers{
				"columns": func(where string, v *yaml.Node) {
					if cols, ok := d.identList(where, v, "column"); ok {
						ts.Columns = cols
					}
				},
			})
		}
		ri.res.Tables = append(ri.res.Tables, ts)
	}
}

// identList reads a non-empty list of distinct SQL identifiers.
func (d *decoder) identList(where string, n *yaml.Node, what string) ([]string, bool) {
	items, ok := d.items(where, n, "a list of "+what+" names")
	if !ok {
		return nil, false
	}
	if len(items) == 0 {
		d.errorf(n.Line, where, "empty list; name at least one %s", what)
		return nil, false
	}
	out := make([]string, 0, len(items))
	seen := make(map[string]int)
	for i, it := range items {
		w := index(where, i)
		s, ok := d.scalar(w, it)
		if !ok {
			continue
		}
		id, err := parseIdent(s)
		if err != nil {
			d.errorf(it.Line, w, "%v", err)
			continue
		}
		if first, dup := seen[id]; dup {
			d.errorf(it.Line, w, "%s %q is already listed at line %d", what, id, first)
			continue
		}
		seen[id] = it.Line
		out = append(out, id)
	}
	return out, true
}

// functions reads extra allowed functions: name or schema.name.
func (d *decoder) functions(where string, n *yaml.Node) []string {
	items, ok := d.items(where, n, "a list of function names")
	if !ok {
		return nil
	}
	var out []string
	for i, it := range items {
		w := index(where, i)
		s, ok := d.scalar(w, it)
		if !ok {
			continue
		}
		if id, err := parseIdent(s); err == nil {
			out = append(out, id)
			continue
		}
		ts, err := grants.ParseTableScope(s)
		if err != nil || ts.Columns != nil {
			d.errorf(it.Line, w, "%q is not a function name (want name or schema.name)", s)
			continue
		}
		out = append(out, ts.Schema+"."+ts.Name)
	}
	return out
}

func (d *decoder) roles(where string, n *yaml.Node) map[grants.Privilege]string {
	roles := make(map[grants.Privilege]string)
	role := func(p grants.Privilege) func(string, *yaml.Node) {
		return func(where string, v *yaml.Node) {
			s, ok := d.scalar(where, v)
			if !ok {
				return
			}
			id, err := parseIdent(s)
			if err != nil {
				d.errorf(v.Line, where, "%v", err)
				return
			}
			roles[p] = id
		}
	}
	d.fields(where, n, "a mapping like {read: ROLE, write: ROLE}", handlers{
		string(grants.Read):  role(grants.Read),
		string(grants.Write): role(grants.Write),
	})
	return roles
}

func (d *decoder) limits(where string, n *yaml.Node, l *Limits) {
	d.fields(where, n, "a mapping of max_rows, max_result_bytes and statement_timeout", handlers{
		"max_rows": func(where string, v *yaml.Node) {
			if x, ok := d.integer(where, v, 1); ok {
				l.MaxRows = x
			}
		},
		"max_result_bytes": func(where string, v *yaml.Node) {
			if x, ok := d.size(where, v, 1); ok {
				l.MaxResultBytes = x
			}
		},
		"statement_timeout": func(where string, v *yaml.Node) {
			if x, ok := d.duration(where, v, false, 0); ok {
				l.StatementTimeout = x
			}
		},
	})
}
