package config

import (
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// decoder walks a yaml.Node tree by hand, so that every value's line is known
// and every problem is reported rather than the first one only.
type decoder struct {
	file     string
	baseDir  string // absolute directory relative paths resolve against
	dataDir  string // absolute data_dir, the value of ${data_dir}
	env      func(string) (string, bool)
	problems []Problem
}

func (d *decoder) report(line int, where string, warning bool, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if where != "" {
		msg = where + ": " + msg
	}
	d.problems = append(d.problems, Problem{File: d.file, Line: line, Msg: msg, Warning: warning})
}

func (d *decoder) errorf(line int, where, format string, args ...any) {
	d.report(line, where, false, format, args...)
}

func (d *decoder) warnf(line int, where, format string, args ...any) {
	d.report(line, where, true, format, args...)
}

func join(where, key string) string {
	if where == "" {
		return key
	}
	return where + "." + key
}

func index(where string, i int) string { return fmt.Sprintf("%s[%d]", where, i) }

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		if isNull(n) {
			return "nothing"
		}
		return "a single value"
	}
	return "a document"
}

// alias reports and rejects YAML aliases: expanding them by hand could grow
// without bound, and a security policy is clearer written out.
func (d *decoder) alias(where string, n *yaml.Node) bool {
	if n.Kind != yaml.AliasNode {
		return false
	}
	d.errorf(n.Line, where, "aliases (*%s) are not supported; write the value out", n.Value)
	return true
}

type pair struct {
	key  string
	k, v *yaml.Node
}

// pairs returns the entries of mapping n in file order, reporting a node that
// is not a mapping, keys that are not plain values, and duplicate keys.
func (d *decoder) pairs(where string, n *yaml.Node, want string) []pair {
	if d.alias(where, n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n.Line, where, "want %s, not %s", want, describe(n))
		return nil
	}
	seen := make(map[string]int)
	var out []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorf(k.Line, where, "keys must be plain names, not %s", describe(k))
			continue
		}
		if k.Tag == "!!merge" {
			d.errorf(k.Line, where, "merge keys (<<) are not supported; write the entries out")
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.errorf(k.Line, where, "duplicate key %q (first at line %d)", k.Value, first)
			continue
		}
		seen[k.Value] = k.Line
		out = append(out, pair{key: k.Value, k: k, v: v})
	}
	return out
}

type handlers map[string]func(where string, v *yaml.Node)

// fields dispatches the entries of mapping n to hs in file order and reports
// unknown keys. A null value counts as absent. It returns the keys present,
// or nil when n is not a mapping (already reported: callers then skip their
// checks for required keys).
func (d *decoder) fields(where string, n *yaml.Node, want string, hs handlers) map[string]bool {
	ps := d.pairs(where, n, want)
	if n.Kind != yaml.MappingNode {
		return nil
	}
	return d.dispatch(where, ps, hs)
}

// dispatch is fields for entries already read by pairs.
func (d *decoder) dispatch(where string, ps []pair, hs handlers) map[string]bool {
	present := make(map[string]bool)
	for _, p := range ps {
		h, ok := hs[p.key]
		if !ok {
			d.unknownKey(where, p.k, hs)
			continue
		}
		if isNull(p.v) {
			continue
		}
		present[p.key] = true
		h(join(where, p.key), p.v)
	}
	return present
}

func (d *decoder) unknownKey(where string, k *yaml.Node, hs handlers) {
	known := make([]string, 0, len(hs))
	for key := range hs {
		known = append(known, key)
	}
	slices.Sort(known)
	best, bestDist := "", 3
	for _, key := range known {
		dist := editDistance(k.Value, key)
		if p := commonPrefix(k.Value, key); p >= 3 && 2*p >= min(len(k.Value), len(key)) {
			dist = min(dist, 1)
		}
		if dist < bestDist {
			best, bestDist = key, dist
		}
	}
	if best != "" {
		d.errorf(k.Line, where, "unknown key %q (did you mean %q?)", k.Value, best)
		return
	}
	d.errorf(k.Line, where, "unknown key %q (want one of: %s)", k.Value, strings.Join(known, ", "))
}

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// editDistance is the Levenshtein distance, for "did you mean" hints.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// items returns the elements of list n, reporting a node that is not a list.
func (d *decoder) items(where string, n *yaml.Node, want string) ([]*yaml.Node, bool) {
	if d.alias(where, n) {
		return nil, false
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n.Line, where, "want %s, not %s", want, describe(n))
		return nil, false
	}
	return n.Content, true
}

// scalar returns the value of n after ${NAME} expansion.
func (d *decoder) scalar(where string, n *yaml.Node) (string, bool) {
	return d.expandNode(where, n, expandOpts{})
}

// pathValue is scalar for a file path: ${data_dir} is available.
func (d *decoder) pathValue(where string, n *yaml.Node) (string, bool) {
	return d.expandNode(where, n, expandOpts{dataDir: true})
}

type expandOpts struct {
	dataDir bool // ${data_dir} may be used
	secret  bool // the value is a secret: never quote any part of it
}

func (d *decoder) expandNode(where string, n *yaml.Node, o expandOpts) (string, bool) {
	if d.alias(where, n) {
		return "", false
	}
	if n.Kind != yaml.ScalarNode {
		d.errorf(n.Line, where, "want a single value, not %s", describe(n))
		return "", false
	}
	v, _, msgs := expand(n.Value, func(name string) (string, string) { return d.lookup(name, o) }, o.secret)
	for _, m := range msgs {
		d.errorf(n.Line, where, "%s", m)
	}
	return v, len(msgs) == 0
}

// dataDirVar is the variable that names the resolved data_dir in paths.
const dataDirVar = "data_dir"

func (d *decoder) lookup(name string, o expandOpts) (string, string) {
	if name == dataDirVar {
		if !o.dataDir {
			return "", "${data_dir} is only available in paths (audit.file)"
		}
		return d.dataDir, ""
	}
	if v, ok := d.env(name); ok {
		return v, ""
	}
	return "", fmt.Sprintf("undefined variable ${%s}; set it in the environment", name)
}

// expand replaces ${NAME} references in s; $$ stands for one dollar sign and
// any other $ is a mistake. Expansion is one pass over a scalar that YAML has
// already parsed, so a variable's value can never add structure to the file or
// refer to further variables. It returns the value, the literal text of s
// (each reference replaced by a NUL, so that callers can tell what was written
// in the file from what came from the environment), and one message per
// problem. With secret set, messages quote nothing from s.
func expand(s string, lookup func(string) (string, string), secret bool) (val, literal string, msgs []string) {
	var v, lit strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c != '$':
			v.WriteByte(c)
			lit.WriteByte(c)
			i++
		case i+1 < len(s) && s[i+1] == '$':
			v.WriteByte('$')
			lit.WriteByte('$')
			i += 2
		case i+1 < len(s) && s[i+1] == '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				msgs = append(msgs, "unterminated ${ (write $$ for a dollar sign)")
				return v.String(), lit.String(), msgs
			}
			name := s[i+2 : i+2+end]
			switch {
			case !validVarName(name) && secret:
				msgs = append(msgs, "invalid variable name in ${...} (want letters, digits and _; write $$ for a dollar sign)")
			case !validVarName(name):
				msgs = append(msgs, fmt.Sprintf("invalid variable name %q in ${...} (want letters, digits and _; write $$ for a dollar sign)", name))
			default:
				if x, msg := lookup(name); msg != "" {
					msgs = append(msgs, msg)
				} else {
					v.WriteString(x)
				}
			}
			lit.WriteByte(0)
			i += 2 + end + 1
		default:
			msgs = append(msgs, "a lone $ must be written $$ (or ${NAME} for a variable)")
			v.WriteByte('$')
			lit.WriteByte('$')
			i++
		}
	}
	return v.String(), lit.String(), msgs
}

func validVarName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		if !letter && !(i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
