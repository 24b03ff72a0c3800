package grants

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
)

// Privilege is what a grant lets an agent do with its tables.
type Privilege string

// The two privileges a grant may carry. Write implies read of the same tables.
const (
	Read  Privilege = "read"
	Write Privilege = "write"
)

// ParsePrivilege accepts exactly "read" or "write".
func ParsePrivilege(s string) (Privilege, error) {
	switch Privilege(s) {
	case Read, Write:
		return Privilege(s), nil
	}
	return "", fmt.Errorf("privilege %q: want read or write", s)
}

// Table names one relation as PostgreSQL stores it: schema and name after
// identifier folding, compared byte for byte.
type Table struct {
	Schema string `json:"schema"`
	Name   string `json:"name"`
}

func (t Table) String() string { return quoteIdent(t.Schema) + "." + quoteIdent(t.Name) }

// TableScope is one table of a grant; nil Columns means every column.
type TableScope struct {
	Table
	Columns []string `json:"columns,omitempty"`
}

// String renders the scope in the form agents write it: public.customers(id, region).
func (ts TableScope) String() string {
	if ts.Columns == nil {
		return ts.Table.String()
	}
	cols := make([]string, len(ts.Columns))
	for i, c := range ts.Columns {
		cols[i] = quoteIdent(c)
	}
	return ts.Table.String() + "(" + strings.Join(cols, ", ") + ")"
}

// AllowsColumn reports whether column c of this table is in scope.
func (ts TableScope) AllowsColumn(c string) bool {
	return ts.Columns == nil || slices.Contains(ts.Columns, c)
}

// Scope is what a grant covers: one privilege over a set of tables.
type Scope struct {
	Privilege Privilege    `json:"privilege"`
	Tables    []TableScope `json:"tables"`
}

// Lookup returns the scope of table t, if the scope covers it.
func (s Scope) Lookup(t Table) (TableScope, bool) {
	for _, ts := range s.Tables {
		if ts.Table == t {
			return ts, true
		}
	}
	return TableScope{}, false
}

// maxColumns is PostgreSQL's limit on the columns of a table.
const maxColumns = 1600

// ParseTableScope parses "schema.table" or "schema.table(col, col)". Unquoted
// identifiers fold to lower case as PostgreSQL folds them; double-quoted ones
// are kept exactly. A missing schema is an error: keyhole never guesses one.
func ParseTableScope(s string) (TableScope, error) {
	p := identParser{in: strings.TrimSpace(s)}
	schema, err := p.ident()
	if err != nil {
		return TableScope{}, fmt.Errorf("table %q: %w", s, err)
	}
	if !p.consume('.') {
		return TableScope{}, fmt.Errorf("table %q: want schema.table (for example public.orders)", s)
	}
	name, err := p.ident()
	if err != nil {
		return TableScope{}, fmt.Errorf("table %q: %w", s, err)
	}
	ts := TableScope{Table: Table{Schema: schema, Name: name}}
	p.space()
	if p.consume('(') {
		ts.Columns = []string{}
		seen := map[string]bool{}
		for {
			c, err := p.ident()
			if err != nil {
				return TableScope{}, fmt.Errorf("table %q: column list: %w", s, err)
			}
			if !seen[c] {
				if len(ts.Columns) == maxColumns {
					return TableScope{}, fmt.Errorf("table %q: more than %d columns", s, maxColumns)
				}
				seen[c] = true
				ts.Columns = append(ts.Columns, c)
			}
			p.space()
			if p.consume(')') {
				break
			}
			if !p.consume(',') {
				return TableScope{}, fmt.Errorf("table %q: column list: want ',' or ')'", s)
			}
		}
		if len(ts.Columns) == 0 {
			return TableScope{}, fmt.Errorf("table %q: empty column list", s)
		}
	}
	p.space()
	if p.pos != len(p.in) {
		return TableScope{}, fmt.Errorf("table %q: unexpected %q", s, p.in[p.pos:])
	}
	return ts, nil
}

type identParser struct {
	in  string
	pos int
}

func (p *identParser) space() {
	for p.pos < len(p.in) && (p.in[p.pos] == ' ' || p.in[p.pos] == '\t') {
		p.pos++
	}
}

func (p *identParser) consume(c byte) bool {
	p.space()
	if p.pos < len(p.in) && p.in[p.pos] == c {
		p.pos++
		return true
	}
	return false
}

// ident reads one identifier: unquoted [A-Za-z_][A-Za-z0-9_$]* folded to lower
// case (ASCII only, as PostgreSQL does), or "quoted" with "" as an escaped quote.
func (p *identParser) ident() (string, error) {
	p.space()
	if p.pos >= len(p.in) {
		return "", fmt.Errorf("missing identifier")
	}
	if p.in[p.pos] == '"' {
		var b strings.Builder
		for i := p.pos + 1; i < len(p.in); i++ {
			if p.in[i] != '"' {
				b.WriteByte(p.in[i])
				continue
			}
			if i+1 < len(p.in) && p.in[i+1] == '"' {
				b.WriteByte('"')
				i++
				continue
			}
			p.pos = i + 1
			if b.Len() == 0 {
				return "", fmt.Errorf("empty quoted identifier")
			}
			return b.String(), nil
		}
		return "", fmt.Errorf("unterminated quoted identifier")
	}
	start := p.pos
	for p.pos < len(p.in) {
		c := p.in[p.pos]
		isLetter := c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		isDigit := (c >= '0' && c <= '9') || c == '$'
		if !isLetter && !(isDigit && p.pos > start) {
			break
		}
		p.pos++
	}
	if p.pos == start {
		return "", fmt.Errorf("invalid identifier at %q", p.in[start:])
	}
	return strings.ToLower(p.in[start:p.pos]), nil
}

// quoteIdent quotes an identifier only when PostgreSQL would need it.
func quoteIdent(s string) string {
	plain := s != ""
	for i, r := range s {
		if !(r == '_' || (r >= 'a' && r <= 'z') || (i > 0 && (unicode.IsDigit(r) && r < 128 || r == '$'))) {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}
