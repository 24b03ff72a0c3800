package sqlscope

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/keyholehq/keyhole/grants"
)

func check(t *testing.T, as map[string]*Analyzer, rw row) (*Analysis, error) {
	t.Helper()
	a, ok := as[rw.analyzer]
	if !ok {
		t.Fatalf("no analyzer %q", rw.analyzer)
	}
	sc, ok := scopes[rw.scope]
	if !ok {
		t.Fatalf("no scope %q", rw.scope)
	}
	return a.Check(rw.sql, sc)
}

func short(s string) string {
	if len(s) > 90 {
		return s[:87] + "..."
	}
	return s
}

func TestCorpusSize(t *testing.T) {
	if n := len(adversarial); n < 250 {
		t.Errorf("%d adversarial rows; want at least 250", n)
	}
	if n := len(analystQueries); n < 80 {
		t.Errorf("%d analyst queries; want at least 80", n)
	}
}

func TestAdversarial(t *testing.T) {
	as := analyzers()
	for i, rw := range adversarial {
		an, err := check(t, as, rw)
		if err == nil {
			t.Errorf("adversarial %d allowed, want %s: %s\n  analysis: %+v", i, rw.code, short(rw.sql), an)
			continue
		}
		d, ok := grants.AsDenial(err)
		if !ok {
			t.Errorf("adversarial %d: %v is not a denial: %s", i, err, short(rw.sql))
			continue
		}
		if d.Code != rw.code {
			t.Errorf("adversarial %d: got %s, want %s: %s\n  message: %s", i, d.Code, rw.code, short(rw.sql), d.Message)
		}
		if d.Message == "" {
			t.Errorf("adversarial %d: empty message", i)
		}
	}
}

func TestAnalystQueriesAllowed(t *testing.T) {
	a := NewAnalyzer(Options{})
	for i, q := range analystQueries {
		an, err := a.Check(q, readScope)
		if err != nil {
			t.Errorf("analyst %d refused: %s\n  %v", i, short(q), err)
			continue
		}
		if an.Kind != "select" || an.Fingerprint == "" || len(an.Writes) != 0 {
			t.Errorf("analyst %d: unexpected analysis %+v", i, an)
		}
	}
}

func TestAllowedEdges(t *testing.T) {
	as := analyzers()
	for i, rw := range allowedEdges {
		if _, err := check(t, as, rw); err != nil {
			t.Errorf("edge %d refused: %s\n  %v", i, short(rw.sql), err)
		}
	}
}

// TestAnalysis pins what an allowed statement reports.
func TestAnalysis(t *testing.T) {
	a := NewAnalyzer(Options{})
	cases := []struct {
		sql   string
		sc    grants.Scope
		kind  string
		reads string
		write string
		cols  string
		funcs string
	}{
		{
			sql:  "SELECT c.name, sum(o.total) FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.name",
			sc:   readScope,
			kind: "select", reads: "public.customers public.orders",
			cols:  "public.customers.id public.customers.name public.orders.customer_id public.orders.total",
			funcs: "pg_catalog.sum",
		},
		{
			sql:  "WITH orders AS (SELECT 1 AS x) SELECT x FROM orders",
			sc:   readScope,
			kind: "select",
		},
		{
			sql:  "UPDATE orders SET status = 'x' FROM customers c WHERE c.id = orders.customer_id RETURNING orders.id",
			sc:   writeScope,
			kind: "update", reads: "public.customers public.orders", write: "public.orders",
			cols: "public.customers.id public.orders.customer_id public.orders.id public.orders.status",
		},
		{
			sql:  "INSERT INTO customers (name, region) VALUES (lower('X'), 'eu')",
			sc:   writeScope,
			kind: "insert", write: "public.customers",
			cols: "public.customers.name public.customers.region", funcs: "pg_catalog.lower",
		},
		{
			sql:  "SELECT * FROM orders",
			sc:   readScope,
			kind: "select", reads: "public.orders", cols: "public.orders.*",
		},
	}
	for _, c := range cases {
		an, err := a.Check(c.sql, c.sc)
		if err != nil {
			t.Errorf("%s: %v", c.sql, err)
			continue
		}
		got := fmt.Sprintf("%s|%s|%s|%s|%s", an.Kind, tablesString(an.Reads), tablesString(an.Writes), strings.Join(an.Columns, " "), strings.Join(an.Functions, " "))
		want := fmt.Sprintf("%s|%s|%s|%s|%s", c.kind, c.reads, c.write, c.cols, c.funcs)
		if got != want {
			t.Errorf("%s:\n got %s\nwant %s", c.sql, got, want)
		}
	}
}

func tablesString(ts []grants.Table) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = t.Schema + "." + t.Name
	}
	return strings.Join(s, " ")
}

// TestCacheKeyedByScope: the same text under two scopes gets two answers.
func TestCacheKeyedByScope(t *testing.T) {
	a := NewAnalyzer(Options{})
	q := "SELECT ssn FROM customers"
	full := grants.Scope{Privilege: grants.Read, Tables: []grants.TableScope{tbl("customers")}}
	if _, err := a.Check(q, full); err != nil {
		t.Fatalf("full scope: %v", err)
	}
	if _, err := a.Check(q, readScope); err == nil {
		t.Fatal("column scope allowed ssn after a full-scope check of the same text")
	}
	if _, err := a.Check(q, full); err != nil {
		t.Fatalf("full scope, cached: %v", err)
	}
	// Scopes differing only in how names split must not collide.
	s1 := grants.Scope{Privilege: grants.Read, Tables: []grants.TableScope{{Table: grants.Table{Schema: "a.b", Name: "c"}}}}
	s2 := grants.Scope{Privilege: grants.Read, Tables: []grants.TableScope{{Table: grants.Table{Schema: "a", Name: "b.c"}}}}
	if cacheKey("x", s1) == cacheKey("x", s2) {
		t.Fatal("cache keys collide")
	}
	s3 := grants.Scope{Privilege: grants.Read, Tables: []grants.TableScope{tbl("customers", "id")}}
	s4 := grants.Scope{Privilege: grants.Write, Tables: []grants.TableScope{tbl("customers", "id")}}
	if cacheKey("x", s3) == cacheKey("x", s4) || cacheKey("x", s3) == cacheKey("x", full) {
		t.Fatal("cache keys collide")
	}
}

// TestCacheBounded: unique statements never grow the cache past its cap.
func TestCacheBounded(t *testing.T) {
	a := NewAnalyzer(Options{})
	for i := 0; i < cacheEntries+500; i++ {
		a.Check(fmt.Sprintf("SELECT %d", i), readScope)
	}
	if n := len(a.cache.items); n != cacheEntries {
		t.Fatalf("cache holds %d entries, want %d", n, cacheEntries)
	}
	// Large statements are bounded by bytes, not only by count.
	b := NewAnalyzer(Options{})
	filler := strings.Repeat("x", 60<<10)
	for i := 0; i < 600; i++ {
		b.Check(fmt.Sprintf("SELECT '%s' AS c%d", filler, i), readScope)
	}
	if b.cache.size > cacheBytes || len(b.cache.items) > cacheBytes/(60<<10) {
		t.Fatalf("cache holds %d bytes in %d entries; cap is %d bytes", b.cache.size, len(b.cache.items), cacheBytes)
	}
}

// TestResultsAreCopies: a caller changing a result cannot change the cache.
func TestResultsAreCopies(t *testing.T) {
	a := NewAnalyzer(Options{})
	q := "SELECT id FROM orders"
	an, err := a.Check(q, readScope)
	if err != nil {
		t.Fatal(err)
	}
	an.Reads[0].Name = "secrets"
	an.Columns[0] = "x"
	again, _ := a.Check(q, readScope)
	if again.Reads[0].Name != "orders" || again.Columns[0] != "public.orders.id" {
		t.Fatalf("cached analysis changed: %+v", again)
	}
	_, err = a.Check("SELECT * FROM secrets", readScope)
	d, _ := grants.AsDenial(err)
	d.Code = ""
	_, err = a.Check("SELECT * FROM secrets", readScope)
	if d, _ := grants.AsDenial(err); d.Code != grants.CodeOutOfScope {
		t.Fatalf("cached denial changed: %v", err)
	}
}

func TestConcurrentChecks(t *testing.T) {
	a := NewAnalyzer(Options{})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				q := analystQueries[(g*50+i)%len(analystQueries)]
				if _, err := a.Check(q, readScope); err != nil {
					t.Errorf("%s: %v", q, err)
				}
				if _, err := a.Check("SELECT ssn FROM customers", readScope); err == nil {
					t.Error("ssn allowed")
				}
			}
		}(g)
	}
	wg.Wait()
}

func TestExplain(t *testing.T) {
	a := NewAnalyzer(Options{})
	an, err := a.Check("SELECT lower(name) FROM customers", readScope)
	if err != nil {
		t.Fatal(err)
	}
	got := Explain(an)
	for _, want := range []string{"statement: select", "reads: public.customers", "writes: (none)", "columns: public.customers.name", "functions: pg_catalog.lower", "fingerprint: "} {
		if !strings.Contains(got, want) {
			t.Errorf("Explain lacks %q:\n%s", want, got)
		}
	}
}

func TestSearchPath(t *testing.T) {
	for _, c := range []struct{ in, want []string }{
		{nil, []string{"public"}},
		{[]string{"pg_catalog", "public"}, []string{"public"}},
		{[]string{"$user", "app", "public", "pg_temp", "app"}, []string{"app", "public"}},
	} {
		got := NewAnalyzer(Options{SearchPath: c.in}).SearchPath()
		if strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("SearchPath(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

// A grant may name a column the table does not have (the catalog changed
// since): PostgreSQL then resolves the name in an outer query, so the gate
// must not stop at the table that only the grant says holds it.
func TestGrantedColumnMissingFromCatalog(t *testing.T) {
	a := NewAnalyzer(Options{TableColumns: testColumns})
	sc := grants.Scope{Privilege: grants.Read, Tables: []grants.TableScope{
		tbl("customers", "id", "name"), tbl("products", "id", "name", "email"),
	}}
	_, err := a.Check("SELECT (SELECT email FROM products LIMIT 1) FROM customers", sc)
	if d, ok := grants.AsDenial(err); !ok || d.Code != grants.CodeOutOfScope {
		t.Fatalf("got %v, want OUT_OF_SCOPE: email resolves to customers.email", err)
	}
	if _, err := a.Check("SELECT (SELECT p.name FROM products p LIMIT 1) FROM customers", sc); err != nil {
		t.Fatal(err)
	}
}

// An alias list renames a table's first columns; a renamed name is no
// longer the table's, and PostgreSQL resolves it in an outer query.
func TestAliasListRenamesColumns(t *testing.T) {
	cat := map[grants.Table][]string{
		{Schema: "public", Name: "customers"}: testColumns[grants.Table{Schema: "public", Name: "customers"}],
		{Schema: "public", Name: "users"}:     {"id", "email"},
	}
	a := NewAnalyzer(Options{TableColumns: cat})
	sc := grants.Scope{Privilege: grants.Read, Tables: []grants.TableScope{tbl("customers", "id", "name"), tbl("users")}}
	_, err := a.Check("SELECT (SELECT email FROM users AS u(a, b) LIMIT 1) FROM customers", sc)
	if d, ok := grants.AsDenial(err); !ok || d.Code != grants.CodeOutOfScope {
		t.Fatalf("got %v, want OUT_OF_SCOPE: email resolves to customers.email", err)
	}
	for _, q := range []string{
		"SELECT (SELECT b FROM users AS u(a, b) LIMIT 1) FROM customers",
		"SELECT (SELECT email FROM users AS u(a) LIMIT 1) FROM customers",
	} {
		if _, err := a.Check(q, sc); err != nil {
			t.Errorf("%s: %v", q, err)
		}
	}
}
