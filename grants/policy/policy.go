// Package policy decides access requests: may this agent have this
// privilege on these tables of this resource, for how long, and who must
// approve. It is pure: configuration in, decision out.
package policy

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keyholehq/keyhole/config"
	"github.com/keyholehq/keyhole/grants"
)

// DefaultDuration is the grant length when a request names none.
const DefaultDuration = 5 * time.Minute

// Request is what an agent asked for.
type Request struct {
	Agent     string
	Resource  string
	Privilege string
	Tables    []string
	Duration  string // Go duration ("5m"); empty means DefaultDuration
}

// Decision is the policy's answer to a request that is well formed and
// permitted. A refusal is a *grants.Denial instead.
type Decision struct {
	Scope    grants.Scope
	TTL      time.Duration
	Approval config.Approval
	// Notes explain what policy changed: a capped duration, narrowed columns.
	Notes []string
}

// Decide checks req against cfg. It returns a Decision, or a *grants.Denial
// (POLICY_DENIED, OUT_OF_SCOPE or INVALID_ARGUMENT) whose message says what
// the agent may ask for instead.
func Decide(cfg *config.Config, req Request) (*Decision, error) {
	res := cfg.Resource(req.Resource)
	agent := cfg.AgentFor(req.Agent)
	if res == nil || agent == nil || !mayUse(agent, res.Name) {
		return nil, grants.Deny(grants.CodePolicyDenied, "agent %q may not request resource %q; call list_resources to see what this agent may request", req.Agent, req.Resource)
	}
	priv, err := grants.ParsePrivilege(req.Privilege)
	if err != nil {
		return nil, grants.Deny(grants.CodeInvalidArgument, "privilege must be \"read\" or \"write\"")
	}
	if len(req.Tables) == 0 {
		return nil, grants.Deny(grants.CodeInvalidArgument, "name the tables you need, e.g. [\"public.orders\"] or [\"public.customers(id, region)\"]; requestable: %s", requestable(res))
	}
	asked := make([]grants.TableScope, 0, len(req.Tables))
	for _, t := range req.Tables {
		ts, err := grants.ParseTableScope(t)
		if err != nil {
			return nil, grants.Deny(grants.CodeInvalidArgument, "%v", err)
		}
		asked = append(asked, ts)
	}
	var reasons []string
	for _, rule := range agent.Allow {
		if rule.Resource != res.Name || !slices.Contains(rule.Privileges, priv) {
			continue
		}
		scope, notes, why := narrow(res, rule, asked)
		if why != "" {
			reasons = append(reasons, why)
			continue
		}
		ttl, durNotes, err := duration(req.Duration, rule.MaxDuration)
		if err != nil {
			return nil, err
		}
		return &Decision{
			Scope:    grants.Scope{Privilege: priv, Tables: scope},
			TTL:      ttl,
			Approval: rule.Approval,
			Notes:    append(notes, durNotes...),
		}, nil
	}
	if len(reasons) == 0 {
		return nil, grants.Deny(grants.CodePolicyDenied, "agent %q may not request %s access to resource %q; allowed privileges: %s", req.Agent, priv, res.Name, privileges(agent, res.Name))
	}
	return nil, grants.Deny(grants.CodeOutOfScope, "%s", reasons[0])
}

func mayUse(agent *config.Agent, resource string) bool {
	for _, r := range agent.Allow {
		if r.Resource == resource {
			return true
		}
	}
	return false
}

// ruleTables is what a rule lets an agent ask for: the rule's own table list,
// or else the resource's.
func ruleTables(res *config.Resource, rule *config.Rule) []grants.TableScope {
	if rule.Tables != nil {
		return rule.Tables
	}
	return res.Tables
}

// narrow checks each asked table against the rule. A table asked for without
// columns, where only some columns may be granted, is narrowed to those
// columns (and the agent told); asking for a column that may not be granted
// is refused, naming it.
func narrow(res *config.Resource, rule *config.Rule, asked []grants.TableScope) ([]grants.TableScope, []string, string) {
	allowed := ruleTables(res, rule)
	var out []grants.TableScope
	var notes []string
	for _, a := range asked {
		i := slices.IndexFunc(allowed, func(t grants.TableScope) bool { return t.Table == a.Table })
		if i < 0 {
			return nil, nil, fmt.Sprintf("table %s may not be granted on resource %q; requestable: %s", a.Table, res.Name, tableList(allowed))
		}
		limit := allowed[i]
		switch {
		case a.Columns == nil && limit.Columns != nil:
			a.Columns = slices.Clone(limit.Columns)
			notes = append(notes, fmt.Sprintf("%s narrowed to the columns that may be granted: %s", a.Table, strings.Join(limit.Columns, ", ")))
		case a.Columns != nil:
			for _, c := range a.Columns {
				if !limit.AllowsColumn(c) {
					return nil, nil, fmt.Sprintf("column %s of %s may not be granted; grantable columns: %s", c, a.Table, strings.Join(limit.Columns, ", "))
				}
			}
		}
		if j := slices.IndexFunc(out, func(t grants.TableScope) bool { return t.Table == a.Table }); j >= 0 {
			return nil, nil, fmt.Sprintf("table %s is named twice; name each table once", a.Table)
		}
		out = append(out, a)
	}
	return out, notes, ""
}

func duration(asked string, max time.Duration) (time.Duration, []string, error) {
	if max <= 0 {
		max = 15 * time.Minute
	}
	d := DefaultDuration
	if asked != "" {
		var err error
		d, err = time.ParseDuration(asked)
		if err != nil || d < time.Second {
			return 0, nil, grants.Deny(grants.CodeInvalidArgument, "duration %q: write a duration of at least one second, such as \"5m\" or \"30s\"", asked)
		}
		// Grant times are whole seconds (JWT NumericDate).
		d = d.Truncate(time.Second)
	}
	if d > max {
		return max, []string{fmt.Sprintf("duration capped at %s by policy (asked %s)", max, d)}, nil
	}
	return d, nil, nil
}

func requestable(res *config.Resource) string { return tableList(res.Tables) }

func tableList(ts []grants.TableScope) string {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.String()
	}
	return strings.Join(names, ", ")
}

func privileges(agent *config.Agent, resource string) string {
	var ps []string
	for _, r := range agent.Allow {
		if r.Resource != resource {
			continue
		}
		for _, p := range r.Privileges {
			if !slices.Contains(ps, string(p)) {
				ps = append(ps, string(p))
			}
		}
	}
	return strings.Join(ps, ", ")
}
