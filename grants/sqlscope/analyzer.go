package sqlscope

import (
	"container/list"
	"errors"
	"slices"
	"strings"
	"sync"

	pg_query "github.com/pganalyze/pg_query_go/v5"
	"github.com/pganalyze/pg_query_go/v5/parser"
	"google.golang.org/protobuf/proto"

	"github.com/keyholehq/keyhole/grants"
)

// Defaults for Options.
const (
	DefaultMaxSQLBytes = 64 << 10
	DefaultMaxDepth    = 64
	// cacheEntries and cacheBytes bound the analysis cache: an agent sending
	// endless unique statements evicts old entries instead of growing memory.
	cacheEntries = 4096
	cacheBytes   = 16 << 20
)

// Analyzer analyzes statements for one resource and caches results by exact
// text and scope. It is safe for concurrent use.
type Analyzer struct {
	opts         Options
	extraBuiltin map[string]bool // ExtraFunctions without a schema, or in pg_catalog
	extra        map[string]bool // ExtraFunctions as "schema.name"
	columns      map[grants.Table]map[string]bool
	cache        *lru
}

// NewAnalyzer returns an analyzer for one resource.
func NewAnalyzer(opts Options) *Analyzer {
	var sp []string
	for _, s := range opts.SearchPath {
		if s != "pg_catalog" && s != "$user" && s != "pg_temp" && s != "" && !slices.Contains(sp, s) {
			sp = append(sp, s)
		}
	}
	if len(sp) == 0 {
		sp = []string{"public"}
	}
	opts.SearchPath = sp
	if opts.MaxSQLBytes <= 0 {
		opts.MaxSQLBytes = DefaultMaxSQLBytes
	}
	if opts.MaxDepth <= 0 {
		opts.MaxDepth = DefaultMaxDepth
	}
	a := &Analyzer{opts: opts, extraBuiltin: map[string]bool{}, extra: map[string]bool{}, cache: newLRU(cacheEntries, cacheBytes)}
	if len(opts.TableColumns) > 0 {
		a.columns = make(map[grants.Table]map[string]bool, len(opts.TableColumns))
		for t, cols := range opts.TableColumns {
			m := make(map[string]bool, len(cols)+len(systemColumns))
			for _, c := range cols {
				m[c] = true
			}
			a.columns[t] = m
		}
	}
	for _, f := range opts.ExtraFunctions {
		f = strings.ToLower(strings.TrimSpace(f))
		schema, name, qualified := strings.Cut(f, ".")
		switch {
		case !qualified:
			a.extraBuiltin[f] = true
		case schema == "pg_catalog":
			a.extraBuiltin[name] = true
		default:
			a.extra[f] = true
		}
	}
	return a
}

// systemColumns exist in every table whether the catalog lists them or not.
var systemColumns = []string{"ctid", "xmin", "xmax", "cmin", "cmax", "tableoid"}

// SearchPath is the search_path the executor must SET LOCAL for every query
// of this resource: Options.SearchPath without pg_catalog (which PostgreSQL
// then searches first), $user and pg_temp (keyhole's roles own no schema and
// create no temporary objects), defaulting to public. Names resolve in the
// analysis exactly as they do under this path and no other.
func (a *Analyzer) SearchPath() []string {
	return slices.Clone(a.opts.SearchPath)
}

// builtin reports whether name is an allowed pg_catalog function.
func (a *Analyzer) builtin(name string) bool {
	return builtinFunctions[name] || a.extraBuiltin[name]
}

// Check returns the analysis if the statement is allowed under scope, or a
// *grants.Denial saying why not.
func (a *Analyzer) Check(sql string, scope grants.Scope) (*Analysis, error) {
	key := cacheKey(sql, scope)
	if r, ok := a.cache.get(key); ok {
		return r.result()
	}
	an, d := a.analyzeSafely(sql, scope)
	r := cached{an: an, d: d}
	a.cache.put(key, r)
	return r.result()
}

// analyzeSafely fails closed if the analysis itself fails: a bug in the
// walker must refuse the statement, not take the server down.
func (a *Analyzer) analyzeSafely(sql string, scope grants.Scope) (an *Analysis, d *grants.Denial) {
	defer func() {
		if p := recover(); p != nil {
			an, d = nil, grants.Deny(grants.CodeForbiddenStatement, "keyhole could not analyse this statement (internal error); rewrite it with plainer SQL")
		}
	}()
	return a.analyze(sql, scope)
}

func (a *Analyzer) analyze(sql string, scope grants.Scope) (*Analysis, *grants.Denial) {
	if d := checkText(sql, a.opts.MaxSQLBytes, a.opts.MaxDepth); d != nil {
		return nil, d
	}
	tree, err := parseFast(sql)
	if err != nil {
		// parseFast declines what it cannot decode exactly; the parser's
		// protobuf output is the reference, only slower.
		var d *grants.Denial
		if tree, d = parseProtobuf(sql); d != nil {
			return nil, d
		}
	}
	if len(tree.Stmts) == 0 {
		return nil, grants.Deny(grants.CodeInvalidArgument, "no SQL statement given")
	}
	if len(tree.Stmts) > 1 {
		return nil, grants.Deny(grants.CodeMultipleStatements, "%d statements given; send exactly one statement per query", len(tree.Stmts))
	}
	an, d := newWalker(a, scope).statement(tree.Stmts[0].Stmt)
	if d != nil {
		return nil, d
	}
	// The fingerprint is a second, independent parse in C, taken only for
	// an allowed statement: a refusal needs none, and on a busy machine
	// running it beside the walk saved no time.
	fp, err := pg_query.Fingerprint(sql)
	if err != nil {
		return nil, parseDenial(err)
	}
	an.Fingerprint = fp
	return an, nil
}

// parseProtobuf parses sql through the parser's protobuf output, as
// pg_query.Parse does.
func parseProtobuf(sql string) (*pg_query.ParseResult, *grants.Denial) {
	buf, err := parser.ParseToProtobuf(sql)
	if err != nil {
		return nil, parseDenial(err)
	}
	tree := &pg_query.ParseResult{}
	if err := proto.Unmarshal(buf, tree); err != nil {
		return nil, grants.Deny(grants.CodeParseError, "the statement is too deeply nested to analyse; simplify it")
	}
	return tree, nil
}

// parseDenial reports a parser error with its position, which pg_query
// gives as a 1-based character offset.
func parseDenial(err error) *grants.Denial {
	var pe *parser.Error
	if errors.As(err, &pe) && pe.Cursorpos > 0 {
		return grants.Deny(grants.CodeParseError, "%s (at character %d); fix the SQL syntax", pe.Message, pe.Cursorpos)
	}
	return grants.Deny(grants.CodeParseError, "%v; fix the SQL syntax", err)
}

// cached is one remembered outcome: exactly one of an and d is set.
type cached struct {
	an *Analysis
	d  *grants.Denial
}

// result hands out copies so a caller cannot alter what the cache holds.
func (c cached) result() (*Analysis, error) {
	if c.d != nil {
		d := *c.d
		return nil, &d
	}
	an := *c.an
	an.Reads = append([]grants.Table(nil), an.Reads...)
	an.Writes = append([]grants.Table(nil), an.Writes...)
	an.Columns = append([]string(nil), an.Columns...)
	an.Functions = append([]string(nil), an.Functions...)
	return &an, nil
}

// cacheKey is the exact text followed by an unambiguous encoding of the scope:
// every identifier is length-prefixed, so no two scopes share a key.
func cacheKey(sql string, scope grants.Scope) string {
	var b strings.Builder
	n := len(sql) + 16
	for _, t := range scope.Tables {
		n += len(t.Schema) + len(t.Name) + 16
		for _, c := range t.Columns {
			n += len(c) + 4
		}
	}
	b.Grow(n)
	b.WriteString(string(scope.Privilege))
	b.WriteByte(0)
	for _, t := range scope.Tables {
		writeLen(&b, t.Schema)
		writeLen(&b, t.Name)
		if t.Columns == nil {
			b.WriteByte('*')
		} else {
			b.WriteByte('(')
			for _, c := range t.Columns {
				writeLen(&b, c)
			}
			b.WriteByte(')')
		}
	}
	b.WriteByte(0)
	b.WriteString(sql)
	return b.String()
}

func writeLen(b *strings.Builder, s string) {
	n := len(s)
	b.WriteByte(byte(n >> 24))
	b.WriteByte(byte(n >> 16))
	b.WriteByte(byte(n >> 8))
	b.WriteByte(byte(n))
	b.WriteString(s)
}

// lru is a least-recently-used map capped in entries and in bytes, guarded
// by one mutex.
type lru struct {
	mu       sync.Mutex
	max      int
	maxBytes int
	size     int
	order    *list.List // front is most recent; values are *lruEntry
	items    map[string]*list.Element
}

type lruEntry struct {
	key string
	val cached
}

func newLRU(max, maxBytes int) *lru {
	return &lru{max: max, maxBytes: maxBytes, order: list.New(), items: map[string]*list.Element{}}
}

// cost approximates an entry's memory: its key and what the analysis holds.
func (e *lruEntry) cost() int {
	n := len(e.key) + 256
	if an := e.val.an; an != nil {
		n += len(an.Fingerprint)
		for _, t := range an.Reads {
			n += len(t.Schema) + len(t.Name) + 32
		}
		for _, t := range an.Writes {
			n += len(t.Schema) + len(t.Name) + 32
		}
		for _, c := range an.Columns {
			n += len(c) + 16
		}
		for _, f := range an.Functions {
			n += len(f) + 16
		}
	} else if e.val.d != nil {
		n += len(e.val.d.Message)
	}
	return n
}

func (c *lru) get(key string) (cached, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[key]
	if !ok {
		return cached{}, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*lruEntry).val, true
}

func (c *lru) put(key string, v cached) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok {
		ent := e.Value.(*lruEntry)
		c.size -= ent.cost()
		ent.val = v
		c.size += ent.cost()
		c.order.MoveToFront(e)
	} else {
		ent := &lruEntry{key: key, val: v}
		c.items[key] = c.order.PushFront(ent)
		c.size += ent.cost()
	}
	for c.order.Len() > c.max || (c.size > c.maxBytes && c.order.Len() > 1) {
		old := c.order.Back()
		ent := old.Value.(*lruEntry)
		c.order.Remove(old)
		delete(c.items, ent.key)
		c.size -= ent.cost()
	}
}
