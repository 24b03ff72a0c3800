package audit

import (
	"encoding/json"
	"time"
)

// Event names: one per step an agent or an admin takes.
const (
	SessionStart    = "session.start"
	SessionEnd      = "session.end"
	AccessRequest   = "access.request"
	AccessGranted   = "access.granted"
	AccessDenied    = "access.denied"
	AccessPending   = "access.pending"
	AccessApproved  = "access.approved"
	AccessReleased  = "access.released"
	AccessExpired   = "access.expired"
	AccessRevoked   = "access.revoked"
	QueryAllowed    = "query.allowed"
	QueryDenied     = "query.denied"
	QueryCompleted  = "query.completed"
	QueryFailed     = "query.failed"
	CheckpointEvent = "checkpoint"
)

// Event is one audit record. The writer fills Seq, Time (when zero), Prev and
// Hash; callers fill the rest. Field order is the canonical order: the chain
// hash covers the JSON encoding of this struct, so fields are only ever added
// at the end of a group, never reordered or renamed.
type Event struct {
	Seq   uint64    `json:"seq"`
	Time  time.Time `json:"time"`
	Event string    `json:"event"`

	// Who: the session identity and what proved it.
	Session   string     `json:"session,omitempty"` // session id
	Agent     string     `json:"agent,omitempty"`
	Principal *Principal `json:"principal,omitempty"`
	Client    *Client    `json:"client,omitempty"`
	// Identity is the signed session identity (a JWS), on session.start only.
	Identity string `json:"identity,omitempty"`

	// What: the tool call and its prompt context.
	Tool          string          `json:"tool,omitempty"`
	Resource      string          `json:"resource,omitempty"`
	Grant         string          `json:"grant,omitempty"`   // grant id (jti), never the token
	Request       string          `json:"request,omitempty"` // pending request id
	Privilege     string          `json:"privilege,omitempty"`
	Tables        []string        `json:"tables,omitempty"`
	Duration      string          `json:"duration,omitempty"`
	ExpiresAt     *time.Time      `json:"expires_at,omitempty"`
	Justification string          `json:"justification,omitempty"`
	Purpose       string          `json:"purpose,omitempty"`
	Meta          json.RawMessage `json:"meta,omitempty"`  // the request's _meta, size-capped
	Actor         string          `json:"actor,omitempty"` // who approved/revoked, for admin actions

	// Decision.
	Decision string `json:"decision,omitempty"` // allow | deny | pending
	Code     string `json:"code,omitempty"`
	Reason   string `json:"reason,omitempty"`

	Query  *Query  `json:"query,omitempty"`
	Result *Result `json:"result,omitempty"`

	// Checkpoint fields, on checkpoint records only.
	Checkpoint *Checkpoint `json:"checkpoint,omitempty"`

	Prev string `json:"prev"`
	Hash string `json:"hash"`
}

// Principal is who proved the agent's identity on this connection.
type Principal struct {
	Kind          string `json:"kind"` // "os" for stdio, "oidc", "mtls", "enrollment" for HTTP
	Subject       string `json:"subject"`
	Issuer        string `json:"issuer,omitempty"`
	UID           int    `json:"uid,omitempty"`
	ParentPID     int    `json:"parent_pid,omitempty"`
	ParentCommand string `json:"parent_command,omitempty"`
}

// Client is the MCP client as it named itself in initialize.
type Client struct {
	Name    string `json:"name,omitempty"`
	Version string `json:"version,omitempty"`
}

// Query is what an agent asked the database to do and what keyhole made of it.
type Query struct {
	SQL         string   `json:"sql"`
	Params      []any    `json:"params,omitempty"`
	Redacted    bool     `json:"params_redacted,omitempty"`
	Fingerprint string   `json:"fingerprint,omitempty"`
	Kind        string   `json:"kind,omitempty"`
	Reads       []string `json:"reads,omitempty"`
	Writes      []string `json:"writes,omitempty"`
	Columns     []string `json:"columns,omitempty"`
	Functions   []string `json:"functions,omitempty"`
}

// Result is the outcome of a query that ran (or failed while running).
type Result struct {
	Rows      int             `json:"rows"`
	Columns   []string        `json:"columns,omitempty"`
	Truncated bool            `json:"truncated,omitempty"`
	ElapsedMS float64         `json:"elapsed_ms"`
	Digest    string          `json:"digest,omitempty"` // sha256 hex of the canonical result
	Data      json.RawMessage `json:"data,omitempty"`   // rows, when results: full
	DataCut   bool            `json:"data_cut,omitempty"`
	SQLState  string          `json:"sqlstate,omitempty"`
}

// Checkpoint is a signed statement of the chain head at a point in time.
type Checkpoint struct {
	Seq       uint64 `json:"seq"`  // last record covered
	Head      string `json:"head"` // its hash
	KeyID     string `json:"kid"`
	Signature string `json:"sig"` // base64url Ed25519 over the checkpoint's canonical bytes
}
