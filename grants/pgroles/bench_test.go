package pgroles

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/keyholehq/keyhole/grants"
)

// reportQuantiles reports p50 and p99 of ds in milliseconds.
func reportQuantiles(b *testing.B, ds []time.Duration, what string) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	q := func(p float64) float64 {
		return float64(ds[int(p*float64(len(ds)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(q(0.50), what+"-p50-ms")
	b.ReportMetric(q(0.99), what+"-p99-ms")
}

// BenchmarkCreateRole is the database side of issuing a grant: one role
// with a two-table read scope (one column-scoped), or a write scope with a
// serial sequence, created in one transaction by a CREATEROLE-only role.
// Ending each role is measured apart.
func BenchmarkCreateRole(b *testing.B) {
	for _, bc := range []struct {
		name  string
		scope grants.Scope
	}{
		{"read", scope(grants.Read, "public.orders", "public.customers(id, region)")},
		{"write", scope(grants.Write, "public.notes")},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p := newProvisioner(b)
			ctx := context.Background()
			var creates, ends []time.Duration
			for i := 0; i < b.N; i++ {
				start := time.Now()
				r, err := p.Create(ctx, Spec{Name: RoleName(p.Prefix(), randHex(16)), Scope: bc.scope,
					ValidUntil: time.Now().Add(time.Hour), ApplicationName: "bench"})
				if err != nil {
					b.Fatal(err)
				}
				creates = append(creates, time.Since(start))
				start = time.Now()
				if err := p.End(ctx, r); err != nil {
					b.Fatal(err)
				}
				ends = append(ends, time.Since(start))
			}
			reportQuantiles(b, creates, "create")
			reportQuantiles(b, ends, "end")
		})
	}
}

// BenchmarkQueryLatency compares a query on a fresh grant's pool (its first
// query opens the connection and logs in as the new role) and the queries
// that follow, with the same query on keyhole's shared pool.
func BenchmarkQueryLatency(b *testing.B) {
	const sql = "SELECT id, total, status FROM orders WHERE id = 105"
	ctx := context.Background()
	p := newProvisioner(b)
	b.Run("fresh-role-first-query", func(b *testing.B) {
		var ds []time.Duration
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			r, err := p.Create(ctx, Spec{Name: RoleName(p.Prefix(), randHex(16)), Scope: scope(grants.Read, "public.orders"),
				ValidUntil: time.Now().Add(time.Hour), ApplicationName: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			start := time.Now()
			if _, err := r.pool.Exec(ctx, sql); err != nil {
				b.Fatal(err)
			}
			ds = append(ds, time.Since(start))
			b.StopTimer()
			if err := p.End(ctx, r); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		reportQuantiles(b, ds, "query")
	})
	b.Run("role-pool-following-queries", func(b *testing.B) {
		r, err := p.Create(ctx, Spec{Name: RoleName(p.Prefix(), randHex(16)), Scope: scope(grants.Read, "public.orders"),
			ValidUntil: time.Now().Add(time.Hour), ApplicationName: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		defer p.End(ctx, r)
		following(b, r.pool, sql)
	})
	b.Run("shared-pool", func(b *testing.B) {
		pool, err := pgxpool.New(ctx, keeperDSN)
		if err != nil {
			b.Fatal(err)
		}
		defer pool.Close()
		following(b, pool, sql)
	})
}

func following(b *testing.B, pool *pgxpool.Pool, sql string) {
	ctx := context.Background()
	if _, err := pool.Exec(ctx, sql); err != nil { // the connection is open
		b.Fatal(err)
	}
	var ds []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if _, err := pool.Exec(ctx, sql); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(start))
	}
	reportQuantiles(b, ds, "query")
}

// BenchmarkSCRAMVerifier is the client-side cost of the verifier (PBKDF2,
// 4096 iterations) — about what each new connection of a grant's role pays
// again for SCRAM authentication on a server that asks for a password.
func BenchmarkSCRAMVerifier(b *testing.B) {
	salt := []byte("0123456789abcdef")
	for i := 0; i < b.N; i++ {
		if _, err := scramVerifier("password", salt, scramIterations); err != nil {
			b.Fatal(err)
		}
	}
}
