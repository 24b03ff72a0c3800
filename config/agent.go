package config

import (
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/keyholehq/keyhole/grants"
	"gopkg.in/yaml.v3"
)

// agentPatternRE limits agent names and patterns to characters that are safe
// in a SPIFFE path, a role's application_name and a log line, plus the glob
// characters of path.Match.
var agentPatternRE = regexp.MustCompile(`^[A-Za-z0-9._\-*?\[\]^\\]{1,128}$`)

type agentInfo struct {
	agent *Agent
	rules []*ruleInfo
}

type ruleInfo struct {
	rule       *Rule
	where      string
	resLine    int
	privLine   int
	tableLines []int // parallel to rule.Tables
}

func (d *decoder) agents(where string, n *yaml.Node) []*agentInfo {
	var out []*agentInfo
	for _, p := range d.pairs(where, n, "a mapping of agent names (or globs) to policies") {
		w := join(where, p.key)
		if !agentPatternRE.MatchString(p.key) {
			d.errorf(p.k.Line, w, "agent name or pattern may use letters, digits, '.', '_', '-' and the glob characters * ? [ ]")
		} else if _, err := path.Match(p.key, ""); err != nil {
			d.errorf(p.k.Line, w, "malformed glob pattern")
		}
		ai := &agentInfo{agent: &Agent{Pattern: p.key, Line: p.k.Line}}
		out = append(out, ai)
		if isNull(p.v) {
			d.warnf(p.k.Line, w, "no allow rules: this agent can only list resources")
			continue
		}
		present := d.fields(w, p.v, "a mapping of auth and allow", handlers{
			"auth": func(where string, v *yaml.Node) { d.auth(where, v, &ai.agent.Auth) },
			"allow": func(where string, v *yaml.Node) {
				items, ok := d.items(where, v, "a list of rules like {resource: NAME, privileges: [read]}")
				if !ok {
					return
				}
				for i, it := range items {
					if ri := d.rule(index(where, i), it); ri != nil {
						ai.rules = append(ai.rules, ri)
						ai.agent.Allow = append(ai.agent.Allow, ri.rule)
					}
				}
			},
		})
		if present != nil && !present["allow"] {
			d.warnf(p.k.Line, w, "no allow rules: this agent can only list resources")
		}
	}
	return out
}

func (d *decoder) auth(where string, n *yaml.Node, a *AgentAuth) {
	d.fields(where, n, "a mapping like {oidc: {issuer: URL, audience: NAME}}", handlers{
		"oidc": func(where string, v *yaml.Node) {
			o := &OIDC{}
			present := d.fields(where, v, "a mapping of issuer, audience and jwks_url", handlers{
				"issuer": func(where string, v *yaml.Node) {
					if s, ok := d.scalar(where, v); ok && d.httpsURL(where, v, s) {
						o.Issuer = s
					}
				},
				"audience": func(where string, v *yaml.Node) {
					if s, ok := d.scalar(where, v); ok {
						if s == "" {
							d.errorf(v.Line, where, "must not be empty")
							return
						}
						o.Audience = s
					}
				},
				"jwks_url": func(where string, v *yaml.Node) {
					if s, ok := d.scalar(where, v); ok && d.httpsURL(where, v, s) {
						o.JWKSURL = s
					}
				},
			})
			for _, key := range []string{"issuer", "audience"} {
				if present != nil && !present[key] {
					d.errorf(v.Line, where, "%s is required", key)
				}
			}
			a.OIDC = o
		},
	})
}

// httpsURL requires an https URL; plain http only for a loopback host.
func (d *decoder) httpsURL(where string, n *yaml.Node, s string) bool {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" {
		d.errorf(n.Line, where, "%q is not an https URL", s)
		return false
	}
	switch {
	case u.Scheme == "https":
		return true
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return true
	}
	d.errorf(n.Line, where, "%q must use https (http only for localhost)", s)
	return false
}

func isLoopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

func (d *decoder) rule(where string, n *yaml.Node) *ruleInfo {
	r := &Rule{MaxDuration: DefaultMaxDuration, Approval: DefaultApproval, Line: n.Line}
	ri := &ruleInfo{rule: r, where: where}
	present := d.fields(where, n, "a rule like {resource: NAME, privileges: [read]}", handlers{
		"resource": func(where string, v *yaml.Node) {
			if s, ok := d.scalar(where, v); ok {
				r.Resource, ri.resLine = s, v.Line
			}
		},
		"privileges": func(where string, v *yaml.Node) {
			ri.privLine = v.Line
			items, ok := d.items(where, v, "a list like [read] or [read, write]")
			if !ok {
				return
			}
			if len(items) == 0 {
				d.errorf(v.Line, where, "empty list; want read, write or both")
				return
			}
			for i, it := range items {
				w := index(where, i)
				s, ok := d.scalar(w, it)
				if !ok {
					continue
				}
				p, err := grants.ParsePrivilege(s)
				if err != nil {
					d.errorf(it.Line, w, "%v", err)
					continue
				}
				if slices.Contains(r.Privileges, p) {
					d.errorf(it.Line, w, "privilege %s is already listed", p)
					continue
				}
				r.Privileges = append(r.Privileges, p)
			}
		},
		"tables": func(where string, v *yaml.Node) {
			items, ok := d.items(where, v, "a list like [public.orders, public.customers(id, region)]")
			if !ok {
				return
			}
			if len(items) == 0 {
				d.errorf(v.Line, where, "empty list; omit tables to allow all of the resource's tables")
				return
			}
			r.Tables = []grants.TableScope{}
			for i, it := range items {
				w := index(where, i)
				s, ok := d.scalar(w, it)
				if !ok {
					continue
				}
				ts, err := grants.ParseTableScope(s)
				if err != nil && strings.Count(s, "(") != strings.Count(s, ")") {
					d.errorf(it.Line, w, "%v (in a [...] list, quote a table with columns: 'public.customers(id, region)')", err)
					continue
				}
				if err != nil {
					d.errorf(it.Line, w, "%v", err)
					continue
				}
				if j := slices.IndexFunc(r.Tables, func(x grants.TableScope) bool { return x.Table == ts.Table }); j >= 0 {
					d.errorf(it.Line, w, "table %s is already listed at line %d", ts.Table, ri.tableLines[j])
					continue
				}
				r.Tables = append(r.Tables, ts)
				ri.tableLines = append(ri.tableLines, it.Line)
			}
		},
		"max_duration": func(where string, v *yaml.Node) {
			if x, ok := d.duration(where, v, false, MaxMaxDuration); ok {
				r.MaxDuration = x
			}
		},
		"approval": func(where string, v *yaml.Node) {
			if s, ok := d.enum(where, v, string(ApprovalAuto), string(ApprovalAdmin), string(ApprovalUser)); ok {
				r.Approval = Approval(s)
			}
		},
	})
	if present == nil {
		return nil
	}
	if !present["resource"] {
		d.errorf(n.Line, where, "resource is required")
	}
	if !present["privileges"] {
		d.errorf(n.Line, where, "privileges is required (for example privileges: [read])")
	}
	return ri
}

// crossCheck validates what spans sections: rules against the resources
// they name. A rule that lists a column-scoped table without columns gets
// the resource's columns, so a rule can never widen a resource.
func (d *decoder) crossCheck(res *resourcesInfo, agents []*agentInfo) {
	used := make(map[string]bool)
	for _, ai := range agents {
		for _, ri := range ai.rules {
			r := ri.rule
			if r.Resource == "" {
				continue
			}
			rsi, ok := res.byName[r.Resource]
			if !ok {
				d.errorf(ri.resLine, join(ri.where, "resource"), "unknown resource %q%s", r.Resource, known(res))
				continue
			}
			used[r.Resource] = true
			d.ruleTables(ri, rsi)
			if rsi.res.Enforcement == SetRole && len(rsi.res.Roles) > 0 { // no roles at all is reported once, at the resource
				for _, p := range r.Privileges {
					if _, ok := rsi.res.Roles[p]; !ok {
						d.errorf(ri.privLine, join(ri.where, "privileges"),
							"resource %s uses enforcement: set-role but has no roles.%s (line %d)", r.Resource, p, rsi.res.Line)
					}
				}
			}
		}
	}
	if HasErrors(d.problems) {
		return // an unused resource is noise next to errors that may explain it
	}
	for _, rsi := range res.list {
		if !used[rsi.res.Name] && len(agents) > 0 {
			d.warnf(rsi.res.Line, join("resources", rsi.res.Name), "no agent's allow rules name this resource")
		}
	}
}

func (d *decoder) ruleTables(ri *ruleInfo, rsi *resourceInfo) {
	r := ri.rule
	for i := range r.Tables {
		ts := &r.Tables[i]
		w := index(join(ri.where, "tables"), i)
		j := slices.IndexFunc(rsi.res.Tables, func(x grants.TableScope) bool { return x.Table == ts.Table })
		if j < 0 {
			d.errorf(ri.tableLines[i], w, "table %s is not among resource %s's tables", ts.Table, r.Resource)
			continue
		}
		allowed := rsi.res.Tables[j]
		if ts.Columns == nil {
			ts.Columns = slices.Clone(allowed.Columns)
			continue
		}
		var outside []string
		for _, c := range ts.Columns {
			if !allowed.AllowsColumn(c) {
				outside = append(outside, c)
			}
		}
		if len(outside) > 0 {
			d.errorf(ri.tableLines[i], w, "column(s) %s of %s are not among resource %s's columns for it",
				strings.Join(outside, ", "), ts.Table, r.Resource)
		}
	}
}

func known(res *resourcesInfo) string {
	if len(res.list) == 0 {
		return " (no resources are defined)"
	}
	names := make([]string, len(res.list))
	for i, ri := range res.list {
		names[i] = ri.res.Name
	}
	return " (defined: " + strings.Join(names, ", ") + ")"
}
