package config

import (
	"time"

	"github.com/keyholehq/keyhole/grants"
)

// Config is a whole keyhole.yaml after parsing, expansion, defaults and validation.
type Config struct {
	// Path is the file the config was read from ("" when read from a reader).
	Path        string
	TrustDomain string
	DataDir     string // absolute after loading (relative paths resolve against the config file's directory)
	Resources   map[string]*Resource
	Agents      []*Agent // in file order; see Config.AgentFor
	Audit       Audit
	Server      Server
	// Warnings are the problems that did not stop the config from loading
	// (gate-only enforcement, an inline password), sorted by line.
	Warnings []Problem
}

// Enforcement says how the database itself enforces a grant.
type Enforcement string

const (
	EphemeralRole Enforcement = "ephemeral-role"
	SetRole       Enforcement = "set-role"
	GateOnly      Enforcement = "gate-only"
)

// Approval says who decides a request.
type Approval string

const (
	ApprovalAuto  Approval = "auto"
	ApprovalAdmin Approval = "admin"
	ApprovalUser  Approval = "user"
)

// Resource is one PostgreSQL database an admin made requestable.
type Resource struct {
	Name        string
	Description string
	DSN         Secret
	Enforcement Enforcement
	// Tables that may ever be granted, in file order. A nil Columns means all columns.
	Tables []grants.TableScope
	Limits Limits
	// SearchPath is the search_path keyhole fixes for every query (pg_catalog is
	// always searched first by PostgreSQL). Default: [public].
	SearchPath []string
	// Functions are extra functions (schema-qualified or built-in names) an admin allows
	// in queries of this resource, beyond keyhole's built-in allow-list.
	Functions []string
	// RolePrefix names ephemeral roles (default "kh_").
	RolePrefix string
	// Roles maps a privilege to a pre-made role, for enforcement: set-role.
	Roles map[grants.Privilege]string
	Line  int // where the resource is defined
}

// Limits bound what one query may cost.
type Limits struct {
	MaxRows          int           // default 1000
	MaxResultBytes   int64         // default 1 MiB
	StatementTimeout time.Duration // default 5s
}

// Agent is the policy for agents whose name matches Pattern (exact or glob).
type Agent struct {
	Pattern string
	Auth    AgentAuth
	Allow   []*Rule
	Line    int
}

// AgentAuth says how an HTTP agent proves who it is. Empty for stdio-only agents.
type AgentAuth struct {
	OIDC *OIDC
}

// OIDC is a trusted token issuer for an agent.
type OIDC struct {
	Issuer   string
	Audience string
	JWKSURL  string
}

// Rule lets an agent request one resource with some privileges.
type Rule struct {
	Resource   string
	Privileges []grants.Privilege
	// Tables narrows the resource's tables for this rule; nil means all of the resource's tables.
	Tables      []grants.TableScope
	MaxDuration time.Duration // default 15m
	Approval    Approval      // default auto
	Line        int
}

// ResultsMode says how much of a query's result the audit trail keeps.
type ResultsMode string

const (
	ResultsNone   ResultsMode = "none"
	ResultsDigest ResultsMode = "digest"
	ResultsFull   ResultsMode = "full"
)

// FsyncMode says when the audit writer syncs.
type FsyncMode string

const (
	FsyncAlways FsyncMode = "always"
	FsyncBatch  FsyncMode = "batch"
)

// Audit configures the audit trail.
type Audit struct {
	File               string      // default ${data_dir}/audit.jsonl
	Results            ResultsMode // default digest
	MaxResultBytes     int64       // cap for results: full (default 64 KiB)
	Fsync              FsyncMode   // default batch
	RedactParams       bool
	MaxMetaBytes       int           // cap for _meta (default 4 KiB)
	CheckpointEvery    int           // records between checkpoints (default 1000)
	CheckpointInterval time.Duration // time between checkpoints (default 1m)
	RotateBytes        int64         // rotate the file past this size (default 100 MiB; 0 = never)
	RotateAge          time.Duration // rotate past this age (0 = never)
}

// Server configures the network listener.
type Server struct {
	HTTP HTTPServer
}

// HTTPServer configures streamable HTTP.
type HTTPServer struct {
	Listen         string
	AllowedOrigins []string
}

// Secret holds a value that must never be printed: String, GoString,
// MarshalJSON and LogValue all redact it. Reveal is the only way out.
type Secret struct{ value string }

// NewSecret wraps a value.
func NewSecret(v string) Secret { return Secret{value: v} }

// Reveal returns the secret value, for the one place that must use it.
func (s Secret) Reveal() string { return s.value }

func (s Secret) String() string   { return "[redacted]" }
func (s Secret) GoString() string { return "[redacted]" }

// MarshalJSON redacts.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"[redacted]"`), nil }
