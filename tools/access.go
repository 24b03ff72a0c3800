package tools

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keyholehq/keyhole/audit"
	"github.com/keyholehq/keyhole/config"
	"github.com/keyholehq/keyhole/grants"
	"github.com/keyholehq/keyhole/grants/policy"
)

// RequestAccessArgs are request_access's arguments.
type RequestAccessArgs struct {
	Resource      string   `json:"resource"`
	Privilege     string   `json:"privilege"`
	Tables        []string `json:"tables"`
	Duration      string   `json:"duration,omitempty"`
	Justification string   `json:"justification"`
}

// RequestAccessResult is request_access's answer.
type RequestAccessResult struct {
	Status    string       `json:"status"` // granted | pending | denied
	GrantID   string       `json:"grant_id,omitempty"`
	RequestID string       `json:"request_id,omitempty"`
	Scope     *ScopeResult `json:"scope,omitempty"`
	ExpiresAt string       `json:"expires_at,omitempty"`
	Reason    string       `json:"reason,omitempty"`
}

// ScopeResult is a grant's scope as agents read it.
type ScopeResult struct {
	Resource  string   `json:"resource"`
	Privilege string   `json:"privilege"`
	Tables    []string `json:"tables"`
}

// RequestAccess decides a request by policy and, when granted, issues a
// signed grant bound to the calling session.
func (s *Service) RequestAccess(ctx context.Context, call Call, args RequestAccessArgs) (*Result, error) {
	e := s.event(call, audit.AccessRequest, "request_access")
	e.Resource, e.Privilege, e.Tables, e.Duration, e.Justification = args.Resource, args.Privilege, args.Tables, args.Duration, args.Justification
	if err := s.record(ctx, e); err != nil {
		return nil, err
	}
	deny := func(err error) (*Result, error) {
		de := s.event(call, audit.AccessDenied, "request_access")
		de.Resource, de.Privilege, de.Tables = args.Resource, args.Privilege, args.Tables
		d, ok := grants.AsDenial(err)
		if !ok {
			// Refused all the same (a store that cannot be written, say):
			// recorded, the detail going to keyhole's log only. A failure
			// to record is logged by record; the call is refused anyway.
			de.Decision, de.Code, de.Reason = "deny", "INTERNAL", "internal error; the details are in keyhole's log"
			_ = s.record(ctx, de)
			return nil, err
		}
		de.Decision, de.Code, de.Reason = "deny", string(d.Code), d.Message
		if err := s.record(ctx, de); err != nil {
			return nil, err
		}
		return nil, d
	}
	if strings.TrimSpace(args.Justification) == "" {
		return deny(grants.Deny(grants.CodeInvalidArgument, "justification is required: say in a sentence why this access is needed; it is recorded with every query"))
	}
	if args.Resource == "" {
		return deny(grants.Deny(grants.CodeInvalidArgument, "resource is required; call list_resources to see what may be requested"))
	}
	if n := tablesBytes(args.Tables); n > maxTablesBytes {
		// Parsing a column list costs time quadratic in its length.
		return deny(grants.Deny(grants.CodeInvalidArgument, "tables name %d bytes; the limit is %d: ask for whole tables rather than long column lists", n, maxTablesBytes))
	}
	dec, err := policy.Decide(s.cfg, policy.Request{
		Agent: call.Session.Identity.Agent, Resource: args.Resource, Privilege: args.Privilege,
		Tables: args.Tables, Duration: args.Duration,
	})
	if err != nil {
		return deny(err)
	}
	if dec.Approval != config.ApprovalAuto {
		// Approvals by an admin or the user are not available yet: say so
		// rather than pretend a request is pending that nobody can approve.
		return deny(grants.Deny(grants.CodePolicyDenied, "policy requires %s approval for %s access to %q, and this keyhole cannot take approvals yet; ask an admin to allow it with approval: auto, or request read access", dec.Approval, dec.Scope.Privilege, args.Resource))
	}
	res := s.cfg.Resource(args.Resource)
	if res == nil {
		return deny(grants.Deny(grants.CodePolicyDenied, "there is no resource %q; call list_resources", args.Resource))
	}
	if res.Enforcement == config.EphemeralRole && s.roles == nil {
		// Fail closed: never hand out a grant without its database lock.
		return deny(grants.Deny(grants.CodeUnavailable, "resource %q is enforced with ephemeral database roles, which this keyhole cannot create; ask an admin", args.Resource))
	}
	// A grant never outlives the session identity it is bound to.
	ttl := dec.TTL
	if left := call.Session.Identity.Expiry.Sub(s.grants.Now()); !call.Session.Identity.Expiry.IsZero() && left < ttl {
		if left < time.Second {
			return deny(grants.Deny(grants.CodePolicyDenied, "this session's identity has expired; start a new session"))
		}
		ttl = left.Truncate(time.Second)
	}
	rec, err := s.grants.Issue(ctx, call.Session.Ref(), args.Resource, dec.Scope, ttl, "policy:auto")
	if err != nil {
		return deny(err)
	}
	if res.Enforcement == config.EphemeralRole {
		// The grant is stored before its role exists, so start-up reaping
		// in another process never takes the role for an orphan.
		if err := s.roles.Provision(ctx, rec, applicationName(call.Session, rec.ID)); err != nil {
			s.log.ErrorContext(ctx, "creating a grant's database role failed", "grant", rec.ID, "resource", rec.Resource, "err", err)
			_, _ = s.grants.Release(context.WithoutCancel(ctx), call.Session.Identity.ID, rec.ID)
			return deny(grants.Deny(grants.CodeUnavailable, "keyhole could not create the database role for this grant on %q, so nothing was granted; try again later, or ask an admin to run keyhole config check --connect", args.Resource))
		}
	}
	// A release_access or session end that ran while the grant was being
	// created may have ended it already — before its role existed, so
	// nothing ended the role. Never report such a grant as granted.
	if _, err := s.grants.Authorize(context.WithoutCancel(ctx), call.Session.Identity.ID, rec.Resource, rec.ID); err != nil {
		_, _ = s.grants.Release(context.WithoutCancel(ctx), call.Session.Identity.ID, rec.ID)
		s.grantEnded(context.WithoutCancel(ctx), rec)
		return deny(err)
	}
	ge := s.event(call, audit.AccessGranted, "request_access")
	s.fillGrant(ge, rec)
	ge.Justification = args.Justification
	ge.Decision = "allow"
	ge.Reason = strings.Join(dec.Notes, "; ")
	if err := s.record(ctx, ge); err != nil {
		// The grant exists but is unrecorded: end it before refusing.
		_, _ = s.grants.Release(context.WithoutCancel(ctx), call.Session.Identity.ID, rec.ID)
		s.grantEnded(context.WithoutCancel(ctx), rec)
		return nil, err
	}
	out := &RequestAccessResult{
		Status:    "granted",
		GrantID:   rec.ID,
		Scope:     &ScopeResult{Resource: rec.Resource, Privilege: string(rec.Scope.Privilege), Tables: scopeStrings(rec.Scope)},
		ExpiresAt: rfc3339(rec.ExpiresAt),
		Reason:    strings.Join(dec.Notes, "; "),
	}
	text := fmt.Sprintf("granted %s on %s: %s, until %s (grant %s).", out.Scope.Privilege, rec.Resource, strings.Join(out.Scope.Tables, ", "), out.ExpiresAt, rec.ID)
	if out.Reason != "" {
		text += " Note: " + out.Reason + "."
	}
	return &Result{Structured: out, Text: text}, nil
}

// maxTablesBytes bounds request_access's tables argument: hundreds of
// tables and columns fit, and no request costs keyhole noticeable time.
const maxTablesBytes = 16 << 10

func tablesBytes(tables []string) int {
	n := 0
	for _, t := range tables {
		n += len(t)
	}
	return n
}

// ReleaseAccessArgs are release_access's arguments.
type ReleaseAccessArgs struct {
	GrantID string `json:"grant_id,omitempty"`
	All     bool   `json:"all,omitempty"`
}

// ReleaseAccessResult is release_access's answer.
type ReleaseAccessResult struct {
	Released []string `json:"released"`
}

// ReleaseAccess ends one grant of the session, or all of them.
func (s *Service) ReleaseAccess(ctx context.Context, call Call, args ReleaseAccessArgs) (*Result, error) {
	if (args.GrantID == "") == !args.All {
		return nil, grants.Deny(grants.CodeInvalidArgument, "pass either grant_id or all: true")
	}
	ended, err := s.grants.Release(ctx, call.Session.Identity.ID, args.GrantID)
	out := &ReleaseAccessResult{Released: []string{}}
	for _, rec := range ended {
		s.grantEnded(ctx, rec)
		out.Released = append(out.Released, rec.ID)
		e := s.event(call, audit.AccessReleased, "release_access")
		s.fillGrant(e, rec)
		if rerr := s.record(ctx, e); rerr != nil && err == nil {
			err = rerr
		}
	}
	if err != nil {
		return nil, err
	}
	text := "no active grants to release."
	if len(out.Released) > 0 {
		text = "released " + strings.Join(out.Released, ", ") + "."
	}
	return &Result{Structured: out, Text: text}, nil
}

// ListResourcesResult is list_resources's answer.
type ListResourcesResult struct {
	Resources []ResourceInfo `json:"resources"`
}

// ResourceInfo describes one requestable resource.
type ResourceInfo struct {
	Name        string      `json:"name"`
	Description string      `json:"description,omitempty"`
	Tables      []TableInfo `json:"tables"`
	Rules       []RuleInfo  `json:"rules"`
	MaxRows     int         `json:"max_rows"`
	Note        string      `json:"note,omitempty"`
}

// TableInfo is one requestable table and its requestable columns.
type TableInfo struct {
	Name    string       `json:"name"`
	Columns []ColumnInfo `json:"columns"`
}

// ColumnInfo is a column and its PostgreSQL type.
type ColumnInfo struct {
	Name string `json:"name"`
	Type string `json:"type,omitempty"`
}

// RuleInfo is what this agent may ask for on a resource.
type RuleInfo struct {
	Privileges  []string `json:"privileges"`
	Tables      []string `json:"tables,omitempty"`
	MaxDuration string   `json:"max_duration"`
	Approval    string   `json:"approval"`
}

// ListResources lists the resources this session's agent may request.
func (s *Service) ListResources(ctx context.Context, call Call) (*Result, error) {
	agent := s.cfg.AgentFor(call.Session.Identity.Agent)
	out := &ListResourcesResult{Resources: []ResourceInfo{}}
	var text strings.Builder
	if agent == nil {
		text.WriteString("this agent may request nothing; an admin must add it to keyhole.yaml.")
		return &Result{Structured: out, Text: text.String()}, nil
	}
	for _, res := range s.resourcesFor(agent) {
		info := ResourceInfo{Name: res.Name, Description: res.Description, MaxRows: res.Limits.MaxRows, Tables: []TableInfo{}}
		types, err := s.exec.ColumnTypes(ctx, res)
		if err != nil {
			info.Note = "column types unavailable: the database could not be reached"
			s.log.WarnContext(ctx, "list_resources: column types", "resource", res.Name, "err", err)
		}
		for _, t := range requestable(res, agent) {
			ti := TableInfo{Name: t.Table.String(), Columns: []ColumnInfo{}}
			for _, c := range types[t.Table] {
				if t.AllowsColumn(c.Name) {
					ti.Columns = append(ti.Columns, ColumnInfo{Name: c.Name, Type: c.Type})
				}
			}
			if len(ti.Columns) == 0 && t.Columns != nil {
				for _, c := range t.Columns {
					ti.Columns = append(ti.Columns, ColumnInfo{Name: c})
				}
			}
			info.Tables = append(info.Tables, ti)
		}
		for _, r := range agent.Allow {
			if r.Resource != res.Name {
				continue
			}
			ri := RuleInfo{MaxDuration: r.MaxDuration.String(), Approval: string(r.Approval)}
			for _, p := range r.Privileges {
				ri.Privileges = append(ri.Privileges, string(p))
			}
			for _, t := range r.Tables {
				ri.Tables = append(ri.Tables, t.String())
			}
			info.Rules = append(info.Rules, ri)
		}
		out.Resources = append(out.Resources, info)
		fmt.Fprintf(&text, "%s — %s\n", res.Name, res.Description)
		for _, t := range info.Tables {
			cols := make([]string, len(t.Columns))
			for i, c := range t.Columns {
				cols[i] = strings.TrimSpace(c.Name + " " + c.Type)
			}
			fmt.Fprintf(&text, "  %s(%s)\n", t.Name, strings.Join(cols, ", "))
		}
		for _, r := range info.Rules {
			fmt.Fprintf(&text, "  may request %s for up to %s (approval: %s)\n", strings.Join(r.Privileges, "/"), r.MaxDuration, r.Approval)
		}
	}
	text.WriteString("Call request_access with resource, privilege, tables and a justification before database_query.")
	return &Result{Structured: out, Text: text.String()}, nil
}

// requestable is what the agent's rules let it ask for on res: the union of
// the rules' tables (and columns), in the resource's order. Tables no rule
// covers are not shown: their names are none of this agent's business.
func requestable(res *config.Resource, agent *config.Agent) []grants.TableScope {
	var out []grants.TableScope
	for _, t := range res.Tables {
		covered, cols := false, []string(nil)
		for _, r := range agent.Allow {
			if r.Resource != res.Name {
				continue
			}
			if r.Tables == nil {
				covered, cols = true, t.Columns
				if cols == nil {
					break
				}
				continue
			}
			for _, rt := range r.Tables {
				if rt.Table != t.Table {
					continue
				}
				covered = true
				for _, c := range rt.Columns {
					if !slices.Contains(cols, c) {
						cols = append(cols, c)
					}
				}
				if rt.Columns == nil {
					cols = nil
				}
			}
		}
		if covered {
			out = append(out, grants.TableScope{Table: t.Table, Columns: cols})
		}
	}
	return out
}

func (s *Service) resourcesFor(agent *config.Agent) []*config.Resource {
	var out []*config.Resource
	seen := map[string]bool{}
	for _, r := range agent.Allow {
		if res := s.cfg.Resource(r.Resource); res != nil && !seen[res.Name] {
			seen[res.Name] = true
			out = append(out, res)
		}
	}
	return out
}
