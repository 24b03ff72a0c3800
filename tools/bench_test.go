package tools

import (
	"context"
	"testing"
)

// BenchmarkDatabaseQuery is one database_query in process: grant
// verification, SQL gate, two audit records (fsync always), PostgreSQL.
func BenchmarkDatabaseQuery(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	f.grant(b, "15m")
	args := DatabaseQueryArgs{Resource: "shop", SQL: "SELECT id, total, status FROM orders WHERE id = $1", Params: []any{105}}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := f.svc.DatabaseQuery(ctx, f.call(), args); err != nil {
			b.Fatal(err)
		}
	}
}
