package main

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// BenchmarkQueryThroughKeyhole is one database_query round trip — MCP over
// stdio, grant verification, SQL gate (cached), audit records, PostgreSQL —
// for a point lookup. Compare with BenchmarkQueryDirectPgx.
func BenchmarkQueryThroughKeyhole(b *testing.B) {
	e := newEnv(b)
	s := e.start(b, "analytics-bench").cs
	ctx := context.Background()
	if _, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "request_access", Arguments: map[string]any{
		"resource": "shop", "privilege": "read", "tables": []string{"public.orders"}, "justification": "benchmark"}}); err != nil {
		b.Fatal(err)
	}
	args := map[string]any{"resource": "shop", "sql": "SELECT id, total, status FROM orders WHERE id = $1", "params": []any{105}}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "database_query", Arguments: args})
		if err != nil || res.IsError {
			b.Fatalf("query: %v %v", err, res)
		}
	}
}

// BenchmarkQueryDirectPgx is the same point lookup straight through a pgx pool.
func BenchmarkQueryDirectPgx(b *testing.B) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, shopDSN)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var id int
		var total float64
		var status string
		if err := pool.QueryRow(ctx, "SELECT id, total, status FROM orders WHERE id = $1", 105).Scan(&id, &total, &status); err != nil {
			b.Fatal(err)
		}
	}
}
