package sqlscope

import (
	"strings"

	"github.com/keyholehq/keyhole/grants"
)

// The test schema (created for real in db_test.go):
//
//	public.customers(id, name, region, created_at, email, ssn)
//	public.orders(id, customer_id, status, total, created_at, meta jsonb)
//	public.order_items(order_id, product_id, qty, price)
//	public.products(id, name, category, price)
//	public.secrets(id, secret), public.secret_view, public.order_seq,
//	public.pg_orders(id), sales.orders(id, amount)
const testSchema = `
CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, region text, created_at timestamptz NOT NULL DEFAULT now(), email text, ssn text);
CREATE TABLE products (id serial PRIMARY KEY, name text NOT NULL, category text, price numeric(10,2));
CREATE TABLE orders (id serial PRIMARY KEY, customer_id int REFERENCES customers, status text NOT NULL DEFAULT 'new', total numeric(12,2), created_at timestamptz NOT NULL DEFAULT now(), meta jsonb NOT NULL DEFAULT '{}');
CREATE UNIQUE INDEX ON orders (id, status);
CREATE TABLE order_items (order_id int REFERENCES orders, product_id int REFERENCES products, qty int NOT NULL, price numeric(10,2));
CREATE TABLE secrets (id int, secret text);
CREATE VIEW secret_view AS SELECT * FROM secrets;
CREATE SEQUENCE order_seq;
CREATE TABLE pg_orders (id int);
CREATE SCHEMA sales;
CREATE TABLE sales.orders (id int, amount numeric);
INSERT INTO customers (name, region, created_at, email, ssn)
  SELECT 'customer ' || i, (ARRAY['eu','us','apac'])[1 + i % 3], now() - i * interval '3 days', 'c' || i || '@example.org', lpad(i::text, 9, '0')
  FROM generate_series(1, 60) i;
INSERT INTO products (name, category, price)
  SELECT 'product ' || i, (ARRAY['books','games','tools'])[1 + i % 3], (i * 3.5)::numeric(10,2) FROM generate_series(1, 20) i;
INSERT INTO orders (customer_id, status, total, created_at, meta)
  SELECT 1 + i % 60, (ARRAY['new','paid','shipped','cancelled'])[1 + i % 4], (i * 7.25)::numeric(12,2), now() - i * interval '1 day',
         jsonb_build_object('channel', (ARRAY['web','app'])[1 + i % 2], 'items', i % 5, 'tags', jsonb_build_array('a', 'b'))
  FROM generate_series(1, 300) i;
INSERT INTO order_items (order_id, product_id, qty, price)
  SELECT 1 + i % 300, 1 + i % 20, 1 + i % 4, (i % 50 + 0.99)::numeric(10,2) FROM generate_series(1, 900) i;
INSERT INTO secrets VALUES (1, 'the secret');
`

func tbl(name string, cols ...string) grants.TableScope {
	schema, rel, ok := strings.Cut(name, ".")
	if !ok {
		schema, rel = "public", name
	}
	ts := grants.TableScope{Table: grants.Table{Schema: schema, Name: rel}}
	if len(cols) > 0 {
		ts.Columns = cols
	}
	return ts
}

// Scopes used by the corpus. customers is always column-scoped: its email
// and ssn must never leak.
var (
	readScope = grants.Scope{Privilege: grants.Read, Tables: []grants.TableScope{
		tbl("orders"), tbl("order_items"), tbl("products"),
		tbl("customers", "id", "name", "region", "created_at"),
	}}
	writeScope = grants.Scope{Privilege: grants.Write, Tables: []grants.TableScope{
		tbl("orders"), tbl("order_items"),
		tbl("customers", "id", "name", "region", "created_at"),
	}}
	pgOrdersScope = grants.Scope{Privilege: grants.Read, Tables: []grants.TableScope{tbl("pg_orders"), tbl("orders")}}
	salesScope    = grants.Scope{Privilege: grants.Read, Tables: []grants.TableScope{tbl("orders"), tbl("sales.orders")}}
)

// testColumns is the catalog of the test schema, as an executor would load it.
var testColumns = map[grants.Table][]string{
	{Schema: "public", Name: "customers"}:   {"id", "name", "region", "created_at", "email", "ssn"},
	{Schema: "public", Name: "orders"}:      {"id", "customer_id", "status", "total", "created_at", "meta"},
	{Schema: "public", Name: "order_items"}: {"order_id", "product_id", "qty", "price"},
	{Schema: "public", Name: "products"}:    {"id", "name", "category", "price"},
}

var allColsScope = grants.Scope{Privilege: grants.Read, Tables: []grants.TableScope{
	tbl("orders"), tbl("customers", "id", "name", "region", "created_at", "email", "ssn"),
}}

var scopes = map[string]grants.Scope{
	"allcols":  allColsScope,
	"read":     readScope,
	"write":    writeScope,
	"pgorders": pgOrdersScope,
	"sales":    salesScope,
}

// Analyzer variants used by the corpus.
func analyzers() map[string]*Analyzer {
	return map[string]*Analyzer{
		"": NewAnalyzer(Options{}),
		"shadow": NewAnalyzer(Options{Shadowing: &Shadowing{
			Functions: map[string]bool{"lower": true, "sum": true, "evil": true, "total_due": true},
			Operators: map[string]bool{"=": true, "||": true, ">=": true},
		}}),
		"path":    NewAnalyzer(Options{SearchPath: []string{"sales", "public"}}),
		"extra":   NewAnalyzer(Options{ExtraFunctions: []string{"current_setting", "public.total_due", "pg_catalog.version"}}),
		"small":   NewAnalyzer(Options{MaxSQLBytes: 100, MaxDepth: 4}),
		"catalog": NewAnalyzer(Options{TableColumns: testColumns}),
	}
}
