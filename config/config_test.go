package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/keyholehq/keyhole/grants"
)

const (
	envPassword    = "s3cr3t-env-pw"
	inlinePassword = "hunter2-inline-pw"
)

// testEnv is the environment every test sees.
var testEnv = map[string]string{
	"DB_DSN":        "postgres://kh@127.0.0.1:5432/app?sslmode=disable",
	"DB_PW":         envPassword,
	"SECRET_DSN":    "postgres://kh:" + envPassword + "@127.0.0.1:5432/app",
	"BAD_DSN":       "postgres://kh:" + envPassword + "@127.0.0.1:notaport/app",
	"EMPTY":         "",
	"ROWS":          "250",
	"STRUCTURED":    "x\nresources: {}",
	"AUDIT_DIR":     "/var/log/keyhole",
	"ANALYTICS_DSN": "postgres://keyhole:" + envPassword + "@db.example.org:5432/analytics",
}

func lookup(name string) (string, bool) {
	v, ok := testEnv[name]
	return v, ok
}

func checkString(t *testing.T, src string) (*Config, []Problem) {
	t.Helper()
	return parse([]byte(src), "keyhole.yaml", lookup)
}

// want is one expected problem: its line and a substring of its message.
type want struct {
	line    int
	msg     string
	warning bool
}

func (w want) String() string {
	kind := "error"
	if w.warning {
		kind = "warning"
	}
	return fmt.Sprintf("%d: %s: %q", w.line, kind, w.msg)
}

// matchProblems requires a one-to-one match between problems and wants,
// in order (problems are sorted by line).
func matchProblems(t *testing.T, got []Problem, wants []want) {
	t.Helper()
	ok := len(got) == len(wants)
	for i := 0; ok && i < len(got); i++ {
		w := wants[i]
		ok = got[i].Line == w.line && got[i].Warning == w.warning && strings.Contains(got[i].Msg, w.msg) &&
			got[i].File == "keyhole.yaml"
	}
	if !ok {
		var b strings.Builder
		for _, p := range got {
			fmt.Fprintf(&b, "\n  %s", p)
		}
		t.Errorf("problems:%s\nwant: %v", b.String(), wants)
	}
}

// valid is a small config that loads cleanly; cases below change it.
const valid = `resources:
  db:
    dsn: ${DB_DSN}
    tables:
      public.orders: {}
agents:
  bot:
    allow:
      - {resource: db, privileges: [read]}
`

func TestProblems(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []want
	}{
		// Adversarial and structural first.
		{"environment cannot inject structure", `resources:
  db:
    dsn: ${DB_DSN}
    description: ${STRUCTURED}
    tables:
      public.orders: {}
agents:
  bot:
    allow:
      - {resource: db, privileges: [read]}
`, nil},
		{"yaml syntax error has its line", `resources:
  db:
    dsn: ${DB_DSN}
	tables: {}
`, []want{{4, "YAML syntax", false}}},
		{"empty file", "", []want{{1, "empty file", false}}},
		{"comments only", "# nothing\n", []want{{1, "empty file", false}}},
		{"not a mapping", "- a\n- b\n", []want{{1, "want a mapping", false}}},
		{"two documents", valid + "---\nfoo: 1\n", []want{{10, "only one YAML document", false}}},
		{"unknown top-level key", valid + "tenants: {}\n", []want{{10, `unknown key "tenants"`, false}}},
		{"unknown key suggests", strings.Replace(valid, "    tables:", "    tabels:", 1), []want{
			{2, "tables is required", false},
			{4, `unknown key "tabels" (did you mean "tables"?)`, false},
		}},
		{"unknown key in a rule", strings.Replace(valid, "privileges: [read]}", "privileges: [read], ttl: 5m}", 1),
			[]want{{9, `agents.bot.allow[0]: unknown key "ttl"`, false}}},
		{"unknown key in table", strings.Replace(valid, "public.orders: {}", "public.orders: {cols: [id]}", 1),
			[]want{{5, `unknown key "cols" (did you mean "columns"?)`, false}}},
		{"duplicate key", strings.Replace(valid, "    dsn: ${DB_DSN}\n", "    dsn: ${DB_DSN}\n    dsn: ${DB_DSN}\n", 1),
			[]want{{4, `duplicate key "dsn" (first at line 3)`, false}}},
		{"duplicate resource", valid + "resources: {}\n", []want{{10, `duplicate key "resources" (first at line 1)`, false}}},
		{"alias rejected", `resources:
  db: &db
    dsn: ${DB_DSN}
    tables: {public.orders: {}}
  db2: *db
agents:
  bot:
    allow:
      - {resource: db, privileges: [read]}
`, []want{{5, "resources.db2: aliases (*db) are not supported", false}}},
		{"merge key rejected", `resources:
  db:
    <<: {description: x}
    dsn: ${DB_DSN}
    tables: {public.orders: {}}
agents:
  bot:
    allow:
      - {resource: db, privileges: [read]}
`, []want{{3, "merge keys (<<) are not supported", false}}},

		// Environment expansion.
		{"undefined variable", strings.Replace(valid, "${DB_DSN}", "${NOPE_DSN}", 1),
			[]want{{3, "resources.db.dsn: undefined variable ${NOPE_DSN}", false}}},
		{"undefined variable elsewhere", valid + "trust_domain: ${TD}\n", []want{{10, "trust_domain: undefined variable ${TD}", false}}},
		{"lone dollar", valid + "trust_domain: a$b\n", []want{{10, "a lone $ must be written $$", false}}},
		{"unterminated reference", valid + "trust_domain: ${TD\n", []want{{10, "unterminated ${", false}}},
		{"invalid variable name", valid + "trust_domain: ${1X}\n", []want{{10, `invalid variable name "1X"`, false}}},
		{"data_dir only in paths", strings.Replace(valid, "    tables:", "    description: ${data_dir}\n    tables:", 1),
			[]want{{4, "${data_dir} is only available in paths", false}}},
		{"data_dir cannot refer to itself", valid + "data_dir: ${data_dir}/x\n", []want{{10, "data_dir: ${data_dir} is only available", false}}},
		{"empty data_dir", valid + "data_dir: ${EMPTY}\n", []want{{10, "data_dir: must not be empty", false}}},
		{"variable in a number", strings.Replace(valid, "    tables:", "    limits:\n      max_rows: ${ROWS}\n    tables:", 1), nil},

		// DSN.
		{"dsn missing", strings.Replace(valid, "    dsn: ${DB_DSN}\n", "", 1), []want{{2, "resources.db: dsn is required (for example dsn: ${DB_DSN})", false}}},
		{"dsn empty", strings.Replace(valid, "${DB_DSN}", "${EMPTY}", 1), []want{{3, "resources.db.dsn: is empty", false}}},
		{"dsn unparseable", strings.Replace(valid, "${DB_DSN}", "${BAD_DSN}", 1), []want{{3, "resources.db.dsn: not a PostgreSQL connection string (invalid port)", false}}},
		{"dsn not a dsn", strings.Replace(valid, "${DB_DSN}", "just-words", 1), []want{{3, "resources.db.dsn: not a PostgreSQL connection string", false}}},
		{"dsn is a mapping", strings.Replace(valid, "${DB_DSN}", "{host: x}", 1), []want{{3, "dsn: want a single value, not a mapping", false}}},
		{"dsn inline password", strings.Replace(valid, "${DB_DSN}", "postgres://kh:"+inlinePassword+"@localhost/app", 1),
			[]want{{3, "resources.db.dsn: password written inline in the file; put secrets in the environment", true}}},
		{"dsn inline keyword password", strings.Replace(valid, "${DB_DSN}", "host=localhost user=kh password="+inlinePassword, 1),
			[]want{{3, "password written inline", true}}},
		{"dsn inline password unparseable", strings.Replace(valid, "${DB_DSN}", "postgres://kh:"+inlinePassword+"@localhost:99999x/app", 1),
			[]want{{3, "resources.db.dsn: not a PostgreSQL connection string", false}}},
		{"dsn inline keyword garbage", strings.Replace(valid, "${DB_DSN}", "'host=h password="+inlinePassword+" sslmode=sometimes'", 1),
			[]want{{3, "resources.db.dsn: not a PostgreSQL connection string", false}}},
		{"dsn password from the environment", strings.Replace(valid, "${DB_DSN}", "postgres://kh:${DB_PW}@localhost/app", 1), nil},
		{"dsn whole from the environment", strings.Replace(valid, "${DB_DSN}", "${SECRET_DSN}", 1), nil},
		{"dsn bad reference", strings.Replace(valid, "${DB_DSN}", "postgres://kh:${"+inlinePassword+"}@h/db", 1),
			[]want{{3, "dsn: invalid variable name in ${...}", false}}},

		// Resources.
		{"resource name", strings.Replace(strings.Replace(valid, "  db:", "  Db:", 1), "resource: db", "resource: Db", 1),
			[]want{{2, "resource name must match", false}}},
		{"no resources", "agents: {}\n", []want{{1, "resources: at least one resource is required", false}}},
		{"empty resources", "resources: {}\nagents: {}\n", []want{{1, "resources: at least one resource is required", false}}},
		{"tables missing", strings.Replace(valid, "    tables:\n      public.orders: {}\n", "", 1), []want{{2, "resources.db: tables is required", false}}},
		{"tables empty", strings.Replace(valid, "    tables:\n      public.orders: {}\n", "    tables: {}\n", 1),
			[]want{{4, "tables: at least one table is required", false}}},
		{"table without schema", strings.Replace(valid, "public.orders: {}", "orders: {}", 1),
			[]want{{5, "want schema.table", false}}},
		{"table key with columns", strings.Replace(valid, "public.orders: {}", "public.orders(id): {}", 1),
			[]want{{5, "write columns as public.orders: {columns: [...]}", false}}},
		{"duplicate table after folding", strings.Replace(valid, "public.orders: {}", "public.orders: {}\n      PUBLIC.Orders: {}", 1),
			[]want{{6, "table public.orders is already listed at line 5", false}}},
		{"columns empty", strings.Replace(valid, "public.orders: {}", "public.orders: {columns: []}", 1),
			[]want{{5, "empty list; name at least one column", false}}},
		{"columns duplicate", strings.Replace(valid, "public.orders: {}", "public.orders: {columns: [id, ID]}", 1),
			[]want{{5, `column "id" is already listed`, false}}},
		{"column not an identifier", strings.Replace(valid, "public.orders: {}", "public.orders: {columns: ['a b']}", 1),
			[]want{{5, `"a b" is not an SQL identifier`, false}}},
		{"enforcement unknown", strings.Replace(valid, "    tables:", "    enforcement: trust-me\n    tables:", 1),
			[]want{{4, `"trust-me" is not one of ephemeral-role, set-role, gate-only`, false}}},
		{"gate-only warns", strings.Replace(valid, "    tables:", "    enforcement: gate-only\n    tables:", 1),
			[]want{{4, "keyhole's parser is the only lock", true}}},
		{"set-role needs roles", strings.Replace(valid, "    tables:", "    enforcement: set-role\n    tables:", 1),
			[]want{{4, "set-role needs roles: {read: ROLE, write: ROLE}", false}}},
		{"set-role needs the role of each privilege used", `resources:
  db:
    dsn: ${DB_DSN}
    enforcement: set-role
    roles: {read: kh_reader}
    tables: {public.orders: {}}
agents:
  bot:
    allow:
      - {resource: db, privileges: [read]}
      - resource: db
        privileges: [write]
`, []want{{12, "privileges: resource db uses enforcement: set-role but has no roles.write (line 2)", false}}},
		{"roles without set-role", strings.Replace(valid, "    tables:", "    roles: {read: r}\n    tables:", 1),
			[]want{{4, "roles are used only with enforcement: set-role", true}}},
		{"roles unknown privilege", strings.Replace(valid, "    tables:", "    enforcement: set-role\n    roles: {read: r, admin: x}\n    tables:", 1),
			[]want{{5, `unknown key "admin"`, false}}},
		{"role_prefix unsafe", strings.Replace(valid, "    tables:", "    role_prefix: \"kh; drop\"\n    tables:", 1),
			[]want{{4, "must match ^[a-z_][a-z0-9_]{0,15}$", false}}},
		{"role_prefix too long", strings.Replace(valid, "    tables:", "    role_prefix: abcdefghijklmnopq\n    tables:", 1),
			[]want{{4, "role_prefix", false}}},
		{"search_path pg_catalog", strings.Replace(valid, "    tables:", "    search_path: [public, pg_catalog]\n    tables:", 1),
			[]want{{4, `search_path: "pg_catalog" may not be listed (pg_catalog is always searched first; temporary and per-user schemas are never searched)`, false}}},
		{"search_path empty", strings.Replace(valid, "    tables:", "    search_path: []\n    tables:", 1),
			[]want{{4, "search_path: empty list", false}}},
		{"function name", strings.Replace(valid, "    tables:", "    functions: [lower, pg_catalog.upper, 'a b']\n    tables:", 1),
			[]want{{4, `functions[2]: "a b" is not a function name`, false}}},
		{"limits", strings.Replace(valid, "    tables:", "    limits: {max_rows: 0, max_result_bytes: 1ZB, statement_timeout: 5, extra: 1}\n    tables:", 1),
			[]want{
				{4, "max_rows: must be at least 1", false},
				{4, `max_result_bytes: want a size like`, false},
				{4, `statement_timeout: want a duration like 5s`, false},
				{4, `unknown key "extra"`, false},
			}},
		{"negative timeout", strings.Replace(valid, "    tables:", "    limits: {statement_timeout: -5s}\n    tables:", 1),
			[]want{{4, "statement_timeout: must be greater than 0", false}}},
		{"resource never used", strings.Replace(valid, "agents:", "  other:\n    dsn: ${DB_DSN}\n    tables: {public.x: {}}\nagents:", 1),
			[]want{{6, "resources.other: no agent's allow rules name this resource", true}}},

		// Agents and rules.
		{"no agents", "resources:\n  db:\n    dsn: ${DB_DSN}\n    tables: {public.orders: {}}\n",
			[]want{{1, "agents: none defined", true}}},
		{"bad glob", strings.Replace(valid, "  bot:", "  'bot[':", 1), []want{{7, "malformed glob pattern", false}}},
		{"bad agent characters", strings.Replace(valid, "  bot:", "  'bot/x':", 1), []want{{7, "agent name or pattern may use", false}}},
		{"agent without allow", valid + "  idle: {}\n", []want{{10, "agents.idle: no allow rules", true}}},
		{"unknown resource", strings.Replace(valid, "resource: db", "resource: dbx", 1),
			[]want{{9, `unknown resource "dbx" (defined: db)`, false}}},
		{"privilege unknown", strings.Replace(valid, "[read]", "[read, admin]", 1),
			[]want{{9, `privileges[1]: privilege "admin": want read or write`, false}}},
		{"privileges empty", strings.Replace(valid, "[read]", "[]", 1), []want{{9, "privileges: empty list", false}}},
		{"privileges missing", strings.Replace(valid, ", privileges: [read]", "", 1), []want{{9, "privileges is required", false}}},
		{"privileges duplicate", strings.Replace(valid, "[read]", "[read, read]", 1), []want{{9, "privilege read is already listed", false}}},
		{"privileges a scalar", strings.Replace(valid, "[read]", "read", 1), []want{{9, "want a list like [read]", false}}},
		{"resource missing", strings.Replace(valid, "resource: db, ", "", 1), []want{{9, "allow[0]: resource is required", false}}},
		{"oidc issuer missing", valid + "    auth: {oidc: {audience: keyhole}}\n", []want{{10, "oidc: issuer is required", false}}},
		{"rule not a mapping", strings.Replace(valid, "{resource: db, privileges: [read]}", "db", 1), []want{{9, "allow[0]: want a rule like", false}}},
		{"approval unknown", strings.Replace(valid, "[read]}", "[read], approval: never}", 1), []want{{9, `"never" is not one of auto, admin, user`, false}}},
		{"max_duration over a day", strings.Replace(valid, "[read]}", "[read], max_duration: 25h}", 1), []want{{9, "max_duration: must be at most 24h", false}}},
		{"max_duration zero", strings.Replace(valid, "[read]}", "[read], max_duration: 0s}", 1), []want{{9, "max_duration: must be greater than 0", false}}},
		{"rule table outside the resource", strings.Replace(valid, "[read]}", "[read], tables: [public.orders, public.secrets]}", 1),
			[]want{{9, "tables[1]: table public.secrets is not among resource db's tables", false}}},
		{"rule column outside the resource", `resources:
  db:
    dsn: ${DB_DSN}
    tables:
      public.customers: {columns: [id, region]}
agents:
  bot:
    allow:
      - resource: db
        privileges: [read]
        tables:
          - public.customers(id, email, ssn)
`, []want{{12, "column(s) email, ssn of public.customers are not among resource db's columns", false}}},
		{"rule table with columns unquoted in a flow list", strings.Replace(valid, "[read]}", "[read], tables: [public.orders(id, total)]}", 1),
			[]want{{9, "quote a table with columns", false}, {9, "quote a table with columns", false}}},
		{"rule table unparseable", strings.Replace(valid, "[read]}", "[read], tables: [orders]}", 1), []want{{9, "want schema.table", false}}},
		{"rule tables empty", strings.Replace(valid, "[read]}", "[read], tables: []}", 1), []want{{9, "omit tables to allow all", false}}},
		{"rule table duplicate", strings.Replace(valid, "[read]}", "[read], tables: [public.orders, PUBLIC.ORDERS]}", 1), []want{{9, "already listed at line 9", false}}},
		{"oidc", valid + "    auth: {oidc: {issuer: http://idp.example.org, jwks: x}}\n", []want{
			{10, "issuer: \"http://idp.example.org\" must use https", false},
			{10, `unknown key "jwks" (did you mean "jwks_url"?)`, false},
			{10, "oidc: audience is required", false},
		}},

		// Audit and server.
		{"audit", valid + `audit:
  results: everything
  fsync: sometimes
  redact_params: maybe
  max_result_bytes: 0
  checkpoint_every: 0
  checkpoint_interval: 0s
  rotate_bytes: -1
  rotate_age: 0
  file: ""
`, []want{
			{11, `"everything" is not one of none, digest, full`, false},
			{12, `"sometimes" is not one of always, batch`, false},
			{13, "want true or false", false},
			{14, "must be at least 1 bytes", false},
			{15, "checkpoint_every: must be at least 1", false},
			{16, "checkpoint_interval: must be greater than 0", false},
			{17, "rotate_bytes: want a size", false},
			{19, "audit.file: must not be empty", false},
		}},
		{"server", valid + "server:\n  http: {listen: 8765, allowed_origins: ['*', 'https://ok.example.org', 'https://x.org/path']}\n", []want{
			{11, "listen: want host:port", false},
			{11, `allowed_origins[0]: "*" is not an origin`, false},
			{11, `allowed_origins[2]: "https://x.org/path" is not an origin`, false},
		}},
		{"trust domain", valid + "trust_domain: Example.ORG\n", []want{{10, "is not a trust domain", false}}},

		// Several problems at once, in every section, all reported in line order.
		{"many problems at once", `trust_domain: bad domain
resources:
  db:
    dsn: ${MISSING}
    enforcemnt: gate-only
    tables:
      orders: {}
    limits: {max_rows: lots}
agents:
  '[bot':
    allow:
      - {resource: nowhere, privileges: [sudo], approval: later}
audit: {results: all}
`, []want{
			{1, "trust_domain", false},
			{4, "undefined variable ${MISSING}", false},
			{5, `unknown key "enforcemnt" (did you mean "enforcement"?)`, false},
			{7, "want schema.table", false},
			{8, "max_rows: want a whole number", false},
			{10, "malformed glob pattern", false},
			{12, "privilege \"sudo\"", false},
			{12, "approval", false},
			{12, `unknown resource "nowhere"`, false},
			{13, `audit.results: "all" is not one of`, false},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, ps := checkString(t, tt.src)
			matchProblems(t, ps, tt.want)
			if HasErrors(ps) != (cfg == nil) {
				t.Errorf("config is nil = %v, but HasErrors = %v", cfg == nil, HasErrors(ps))
			}
			for _, p := range ps {
				if s := p.String(); strings.Contains(s, envPassword) || strings.Contains(s, inlinePassword) {
					t.Errorf("problem leaks a password: %s", s)
				}
			}
		})
	}
}

// design is the configuration shown in DESIGN.md.
const design = `trust_domain: example.org
data_dir: ./keyhole-data          # state and audit live here by default
resources:
  analytics:
    description: Orders and customers, read replica
    dsn: ${ANALYTICS_DSN}          # env expansion; secrets never inline, never logged
    enforcement: ephemeral-role    # ephemeral-role | set-role | gate-only
    tables:
      public.orders: {}
      public.customers: {columns: [id, name, region, created_at]}   # never email, ssn
    limits: {max_rows: 1000, max_result_bytes: 1MiB, statement_timeout: 5s}
agents:
  analytics-*:
    auth: {oidc: {issuer: https://idp.example.org, audience: keyhole}}
    allow:
      - {resource: analytics, privileges: [read], max_duration: 15m, approval: auto}
      - {resource: analytics, privileges: [write], tables: [public.orders], max_duration: 5m, approval: admin}
audit:
  file: ${data_dir}/audit.jsonl
  results: digest                  # none | digest | full (capped)
  fsync: batch                     # always | batch
server:
  http: {listen: 127.0.0.1:8765, allowed_origins: []}
`

func TestDesignConfig(t *testing.T) {
	dir := t.TempDir()
	cfg, err := Parse(strings.NewReader(design), filepath.Join(dir, "keyhole.yaml"), lookup)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Warnings) != 0 {
		t.Errorf("warnings: %v", cfg.Warnings)
	}
	customers := grants.TableScope{Table: grants.Table{Schema: "public", Name: "customers"}, Columns: []string{"id", "name", "region", "created_at"}}
	orders := grants.TableScope{Table: grants.Table{Schema: "public", Name: "orders"}}
	res := &Resource{
		Name:        "analytics",
		Description: "Orders and customers, read replica",
		DSN:         NewSecret(testEnv["ANALYTICS_DSN"]),
		Enforcement: EphemeralRole,
		Tables:      []grants.TableScope{orders, customers},
		Limits:      Limits{MaxRows: 1000, MaxResultBytes: 1 << 20, StatementTimeout: 5 * time.Second},
		SearchPath:  []string{"public"},
		RolePrefix:  "kh_",
		Line:        4,
	}
	want := &Config{
		Path:        filepath.Join(dir, "keyhole.yaml"),
		TrustDomain: "example.org",
		DataDir:     filepath.Join(dir, "keyhole-data"),
		Resources:   map[string]*Resource{"analytics": res},
		Agents: []*Agent{{
			Pattern: "analytics-*",
			Auth:    AgentAuth{OIDC: &OIDC{Issuer: "https://idp.example.org", Audience: "keyhole"}},
			Allow: []*Rule{
				{Resource: "analytics", Privileges: []grants.Privilege{grants.Read}, MaxDuration: 15 * time.Minute, Approval: ApprovalAuto, Line: 16},
				{Resource: "analytics", Privileges: []grants.Privilege{grants.Write}, Tables: []grants.TableScope{orders}, MaxDuration: 5 * time.Minute, Approval: ApprovalAdmin, Line: 17},
			},
			Line: 13,
		}},
		Audit: Audit{
			File:               filepath.Join(dir, "keyhole-data", "audit.jsonl"),
			Results:            ResultsDigest,
			MaxResultBytes:     64 << 10,
			Fsync:              FsyncBatch,
			MaxMetaBytes:       4 << 10,
			CheckpointEvery:    1000,
			CheckpointInterval: time.Minute,
			RotateBytes:        100 << 20,
		},
		Server: Server{HTTP: HTTPServer{Listen: "127.0.0.1:8765", AllowedOrigins: []string{}}},
	}
	if got := cfg.Resource("analytics").DSN.Reveal(); got != testEnv["ANALYTICS_DSN"] {
		t.Error("dsn was not taken from ${ANALYTICS_DSN}")
	}
	if !reflect.DeepEqual(want, cfg) {
		w, _ := json.MarshalIndent(want, "", "  ")
		g, _ := json.MarshalIndent(cfg, "", "  ")
		t.Errorf("config:\n%s\nwant:\n%s", g, w)
	}
}

// TestExampleConfig loads the shipped example, with any ${..._DSN} set.
func TestExampleConfig(t *testing.T) {
	path := filepath.Join("..", "examples", "keyhole.yaml")
	if _, err := os.Stat(path); err != nil {
		t.Skip("no example config:", err)
	}
	env := func(name string) (string, bool) {
		if strings.HasSuffix(name, "_DSN") {
			return "postgres://keyhole@127.0.0.1:5432/demo?sslmode=disable", true
		}
		return os.LookupEnv(name)
	}
	cfg, ps := Check(path, env)
	for _, p := range ps {
		if p.Warning {
			t.Logf("%s", p)
		} else {
			t.Errorf("%s", p)
		}
	}
	if cfg == nil {
		t.Fatal("example config did not load")
	}
}

func TestDefaults(t *testing.T) {
	cfg, ps := checkString(t, valid)
	if len(ps) != 0 {
		t.Fatalf("problems: %v", ps)
	}
	cwd, _ := os.Getwd()
	r := cfg.Resource("db")
	checks := []struct {
		name      string
		got, want any
	}{
		{"trust_domain", cfg.TrustDomain, "keyhole.local"},
		{"data_dir", cfg.DataDir, filepath.Join(cwd, "keyhole-data")},
		{"audit.file", cfg.Audit.File, filepath.Join(cwd, "keyhole-data", "audit.jsonl")},
		{"audit.results", cfg.Audit.Results, ResultsDigest},
		{"audit.fsync", cfg.Audit.Fsync, FsyncBatch},
		{"audit.rotate_age", cfg.Audit.RotateAge, time.Duration(0)},
		{"enforcement", r.Enforcement, EphemeralRole},
		{"max_rows", r.Limits.MaxRows, 1000},
		{"max_result_bytes", r.Limits.MaxResultBytes, int64(1 << 20)},
		{"statement_timeout", r.Limits.StatementTimeout, 5 * time.Second},
		{"role_prefix", r.RolePrefix, "kh_"},
		{"search_path", fmt.Sprint(r.SearchPath), "[public]"},
		{"max_duration", cfg.Agents[0].Allow[0].MaxDuration, 15 * time.Minute},
		{"approval", cfg.Agents[0].Allow[0].Approval, ApprovalAuto},
		{"rule tables", cfg.Agents[0].Allow[0].Tables == nil, true},
		{"server", cfg.Server.HTTP.Listen, ""},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestValues(t *testing.T) {
	src := `data_dir: /srv/kh
resources:
  db:
    description: "costs $$5, ${ROWS} rows"
    dsn: ${DB_DSN}
    search_path: [app, '"Mixed"', Other]
    functions: [Lower, pg_catalog.UPPER]
    role_prefix: agent_
    enforcement: set-role
    roles: {read: kh_reader, write: KH_Writer}
    tables:
      public.customers: {columns: [ID, region, '"Email"']}
      app.orders:
agents:
  bot:
    allow:
      - resource: db
        privileges: [read, write]
        tables: [public.customers, app.orders]
audit:
  file: ${data_dir}/trail/audit.jsonl
  max_result_bytes: 512KiB
  max_meta_bytes: 1MB
  rotate_bytes: 0
  rotate_age: 24h
  redact_params: true
  checkpoint_every: 10
`
	cfg, ps := checkString(t, src)
	if len(ps) != 0 {
		t.Fatalf("problems: %v", ps)
	}
	r := cfg.Resource("db")
	checks := []struct {
		name      string
		got, want any
	}{
		{"escape and expansion", r.Description, "costs $5, 250 rows"},
		{"search_path", fmt.Sprint(r.SearchPath), "[app Mixed other]"},
		{"functions", fmt.Sprint(r.Functions), "[lower pg_catalog.upper]"},
		{"role_prefix", r.RolePrefix, "agent_"},
		{"roles", fmt.Sprint(r.Roles), "map[read:kh_reader write:kh_writer]"},
		{"columns fold", fmt.Sprint(r.Tables[0].Columns), "[id region Email]"},
		{"null table value", r.Tables[1].Columns == nil, true},
		{"audit.file", cfg.Audit.File, "/srv/kh/trail/audit.jsonl"},
		{"max_result_bytes", cfg.Audit.MaxResultBytes, int64(512 << 10)},
		{"max_meta_bytes", cfg.Audit.MaxMetaBytes, 1000000},
		{"rotate_bytes", cfg.Audit.RotateBytes, int64(0)},
		{"rotate_age", cfg.Audit.RotateAge, 24 * time.Hour},
		{"redact_params", cfg.Audit.RedactParams, true},
		{"checkpoint_every", cfg.Audit.CheckpointEvery, 10},
		// A rule naming a column-scoped table without columns gets the resource's columns.
		{"rule inherits columns", cfg.Agents[0].Allow[0].Tables[0].String(), `public.customers(id, region, "Email")`},
		{"rule table", cfg.Agents[0].Allow[0].Tables[1].String(), "app.orders"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	// The inherited columns are a copy: changing the rule leaves the resource alone.
	cfg.Agents[0].Allow[0].Tables[0].Columns[0] = "x"
	if r.Tables[0].Columns[0] != "id" {
		t.Error("rule columns alias the resource's")
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1MiB", 1 << 20, true},
		{"512KiB", 512 << 10, true},
		{"1000000", 1000000, true},
		{"1MB", 1000000, true},
		{"1 GiB", 1 << 30, true},
		{"2kB", 2000, true},
		{"7B", 7, true},
		{"0", 0, true},
		{"", 0, false},
		{"MiB", 0, false},
		{"1.5MiB", 0, false},
		{"-1", 0, false},
		{"1mib", 0, false},
		{"1TB", 0, false},
		{"99999999999999999999", 0, false},
		{"9999999999999GiB", 0, false},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestAgentFor(t *testing.T) {
	src := `resources:
  db: {dsn: "${DB_DSN}", tables: {public.orders: {}}}
agents:
  analytics-*: {allow: [{resource: db, privileges: [read]}]}
  '*-worker': {allow: [{resource: db, privileges: [read]}]}
  analytics-worker: {allow: [{resource: db, privileges: [write]}]}
  'batch-[0-9]': {allow: [{resource: db, privileges: [read]}]}
`
	cfg, ps := checkString(t, src)
	if HasErrors(ps) {
		t.Fatalf("problems: %v", ps)
	}
	tests := []struct {
		name, want string
	}{
		{"analytics-worker", "analytics-worker"}, // exact beats an earlier glob
		{"analytics-reports", "analytics-*"},
		{"billing-worker", "*-worker"},
		{"batch-7", "batch-[0-9]"},
		{"batch-77", ""},
		{"analytics", ""},
		{"", ""},
		{"x/analytics-1", ""},
	}
	for _, tt := range tests {
		got := ""
		if a := cfg.AgentFor(tt.name); a != nil {
			got = a.Pattern
		}
		if got != tt.want {
			t.Errorf("AgentFor(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
	if cfg.Resource("nope") != nil || cfg.Resource("db") == nil {
		t.Error("Resource lookup")
	}
	var nilCfg *Config
	if nilCfg.AgentFor("x") != nil || nilCfg.Resource("x") != nil {
		t.Error("nil config lookups")
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Setenv("KH_TEST_DSN", testEnv["SECRET_DSN"])
	t.Setenv("DB_DSN", testEnv["DB_DSN"])
	good := write("good.yaml", strings.Replace(valid, "${DB_DSN}", "${KH_TEST_DSN}", 1)+"data_dir: state\n")
	cfg, err := Load(good)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != filepath.Join(dir, "state") {
		t.Errorf("data_dir = %s, want it relative to the config file", cfg.DataDir)
	}
	if got := cfg.Resource("db").DSN.Reveal(); got != testEnv["SECRET_DSN"] {
		t.Errorf("dsn not taken from the environment")
	}

	bad := write("bad.yaml", valid+"tenants: {}\nfoo: 1\n")
	_, err = Load(bad)
	var ptr *Problems
	if !errors.As(err, &ptr) || len(*ptr) != 2 {
		t.Fatalf("Load error %v (%T), want *Problems with 2 problems", err, err)
	}
	var val Problems
	if !errors.As(err, &val) || len(val) != 2 {
		t.Fatalf("errors.As into Problems failed")
	}
	wantText := bad + `:10: unknown key "tenants"`
	if !strings.HasPrefix(err.Error(), wantText) || strings.Count(err.Error(), "\n") != 1 {
		t.Errorf("error text:\n%s\nwant it to start with %s and hold two lines", err, wantText)
	}

	warnOnly := write("warn.yaml", strings.Replace(valid, "    tables:", "    enforcement: gate-only\n    tables:", 1))
	cfg, err = Load(warnOnly)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Warnings) != 1 || !cfg.Warnings[0].Warning {
		t.Errorf("warnings = %v", cfg.Warnings)
	}

	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil || !strings.HasPrefix(err.Error(), "config: ") {
		t.Errorf("missing file: %v", err)
	}
	_, ps := Check(filepath.Join(dir, "missing.yaml"), lookup)
	if len(ps) != 1 || !strings.Contains(ps[0].String(), "missing.yaml: cannot read") {
		t.Errorf("Check of a missing file: %v", ps)
	}
}

func TestProblemString(t *testing.T) {
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{File: "k.yaml", Line: 3, Msg: "bad"}, "k.yaml:3: bad"},
		{Problem{File: "k.yaml", Line: 3, Msg: "meh", Warning: true}, "k.yaml:3: warning: meh"},
		{Problem{File: "k.yaml", Msg: "cannot read"}, "k.yaml: cannot read"},
		{Problem{Line: 2, Msg: "bad"}, "line 2: bad"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

// TestSecretsNeverPrinted loads configs whose DSN holds a password, inline
// and from the environment, and prints them every way a program might.
func TestSecretsNeverPrinted(t *testing.T) {
	for _, tc := range []struct{ name, dsn string }{
		{"inline", "postgres://kh:" + inlinePassword + "@localhost:5432/app"},
		{"inline keyword", "host=localhost user=kh password=" + inlinePassword},
		{"env", "${SECRET_DSN}"},
		{"env password", "postgres://kh:${DB_PW}@localhost/app"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Replace(valid, "${DB_DSN}", tc.dsn, 1)
			cfg, err := Parse(strings.NewReader(src), "keyhole.yaml", lookup)
			if err != nil {
				t.Fatal(err)
			}
			r := cfg.Resource("db")
			if !strings.Contains(r.DSN.Reveal(), "pw") {
				t.Fatal("the DSN lost its password")
			}
			var out bytes.Buffer
			fmt.Fprintf(&out, "%v %+v %#v\n", cfg, cfg, cfg)
			fmt.Fprintf(&out, "%v %+v %#v\n", *cfg, *cfg, *cfg)
			fmt.Fprintf(&out, "%v %+v %#v %s %q %x %d\n", r, *r, *r, r.DSN, r.DSN, r.DSN, r.DSN)
			fmt.Fprintf(&out, "%v %+v\n", cfg.Resources, cfg.Warnings)
			js, _ := json.Marshal(cfg)
			out.Write(js)
			js, _ = json.Marshal(r)
			out.Write(js)
			for _, h := range []slog.Handler{slog.NewJSONHandler(&out, nil), slog.NewTextHandler(&out, nil)} {
				l := slog.New(h)
				l.Info("resource", "resource", r, "value", *r, "dsn", r.DSN, "config", cfg)
			}
			for _, p := range cfg.Warnings {
				out.WriteString(p.String())
			}
			for _, pw := range []string{inlinePassword, envPassword} {
				if strings.Contains(out.String(), pw) {
					t.Errorf("password printed:\n%s", out.String())
				}
			}
			if !strings.Contains(out.String(), `"resource":{"name":"db","enforcement":"ephemeral-role"`) {
				t.Errorf("slog JSON of a resource is not its LogValue group:\n%s", out.String())
			}
		})
	}
}

// TestSecretsNotInErrors checks the error text of a failed Parse, where the
// DSN itself is what failed.
func TestSecretsNotInErrors(t *testing.T) {
	for _, dsn := range []string{
		"postgres://kh:" + inlinePassword + "@host:port/db",
		"postgres://kh:" + inlinePassword + "@[::1/db",
		"host=h password=" + inlinePassword + " connect_timeout=soon",
		"${BAD_DSN}",
		"postgres://kh:${DB_PW}@host:port/db",
	} {
		src := strings.Replace(valid, "${DB_DSN}", dsn, 1)
		_, err := Parse(strings.NewReader(src), "keyhole.yaml", lookup)
		if err == nil {
			t.Errorf("%q: want an error", dsn)
			continue
		}
		for _, pw := range []string{inlinePassword, envPassword} {
			if strings.Contains(err.Error(), pw) || strings.Contains(fmt.Sprintf("%+v %#v", err, err), pw) {
				t.Errorf("error leaks a password: %v", err)
			}
		}
	}
}
