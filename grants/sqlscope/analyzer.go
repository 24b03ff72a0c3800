package sqlscope

import (
	"container/list"
	"strings"
	"sync"

	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/keyholehq/keyhole/grants"
)

// Defaults for Options.
const (
	DefaultMaxSQLBytes = 64 << 10
	DefaultMaxDepth    = 64
	// cacheEntries bounds the analysis cache: an agent sending endless unique
	// statements evicts old entries instead of growing memory.
	cacheEntries = 4096
)

// Analyzer analyzes statements for one resource and caches results by exact
// text and scope. It is safe for concurrent use.
type Analyzer struct {
	opts         Options
	extraBuiltin map[string]bool // ExtraFunctions without a schema, or in pg_catalog
	extra        map[string]bool // ExtraFunctions as "schema.name"
	cache        *lru
}

// NewAnalyzer returns an analyzer for one resource.
func NewAnalyzer(opts Options) *Analyzer {
	var sp []string
	for _, s := range opts.SearchPath {
		if s != "pg_catalog" && s != "" {
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
	a := &Analyzer{opts: opts, extraBuiltin: map[string]bool{}, extra: map[string]bool{}, cache: newLRU(cacheEntries)}
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
	an, d := a.analyze(sql, scope)
	r := cached{an: an, d: d}
	a.cache.put(key, r)
	return r.result()
}

func (a *Analyzer) analyze(sql string, scope grants.Scope) (*Analysis, *grants.Denial) {
	if d := checkText(sql, a.opts.MaxSQLBytes, a.opts.MaxDepth); d != nil {
		return nil, d
	}
	tree, err := pg_query.Parse(sql)
	if err != nil {
		return nil, grants.Deny(grants.CodeParseError, "%v", err)
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
	fp, err := pg_query.Fingerprint(sql)
	if err != nil {
		return nil, grants.Deny(grants.CodeParseError, "%v", err)
	}
	an.Fingerprint = fp
	return an, nil
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

// lru is a capped least-recently-used map guarded by one mutex.
type lru struct {
	mu    sync.Mutex
	max   int
	order *list.List // front is most recent; values are *lruEntry
	items map[string]*list.Element
}

type lruEntry struct {
	key string
	val cached
}

func newLRU(max int) *lru {
	return &lru{max: max, order: list.New(), items: make(map[string]*list.Element, max)}
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
		e.Value.(*lruEntry).val = v
		c.order.MoveToFront(e)
		return
	}
	c.items[key] = c.order.PushFront(&lruEntry{key: key, val: v})
	for c.order.Len() > c.max {
		old := c.order.Back()
		c.order.Remove(old)
		delete(c.items, old.Value.(*lruEntry).key)
	}
}
