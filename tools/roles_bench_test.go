package tools

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/keyholehq/keyhole/grants"
)

// BenchmarkRequestAccessEphemeralRole is request_access end to end in
// process for a resource enforced with ephemeral roles: policy, signing,
// the store, two audit records (fsync always) and the role's creation. The
// release that follows each grant (ending the role) is reported apart.
func BenchmarkRequestAccessEphemeralRole(b *testing.B) {
	f := newRoleFixture(b)
	ctx := context.Background()
	sess := newSession("analytics-bench")
	call := Call{Session: sess}
	args := RequestAccessArgs{Resource: "shop", Privilege: "read", Tables: []string{"public.orders", "public.customers(id, region)"},
		Duration: "10m", Justification: "benchmark"}
	var issue, release []time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		res, err := f.svc.RequestAccess(ctx, call, args)
		if err != nil {
			b.Fatal(err)
		}
		issue = append(issue, time.Since(start))
		start = time.Now()
		if _, err := f.svc.ReleaseAccess(ctx, call, ReleaseAccessArgs{GrantID: res.Structured.(*RequestAccessResult).GrantID}); err != nil {
			b.Fatal(err)
		}
		release = append(release, time.Since(start))
	}
	for what, ds := range map[string][]time.Duration{"issue": issue, "release": release} {
		slices.Sort(ds)
		b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, what+"-p50-ms")
		b.ReportMetric(float64(ds[(len(ds)-1)*99/100].Microseconds())/1000, what+"-p99-ms")
	}
}

// BenchmarkDatabaseQueryEphemeralRole is database_query in process on a
// grant's own role (its pool warm), to compare with BenchmarkDatabaseQuery
// on keyhole's shared pool.
func BenchmarkDatabaseQueryEphemeralRole(b *testing.B) {
	f := newRoleFixture(b)
	ctx := context.Background()
	sess := newSession("analytics-bench")
	res, err := f.svc.RequestAccess(ctx, Call{Session: sess}, RequestAccessArgs{Resource: "shop", Privilege: "read",
		Tables: []string{"public.orders"}, Duration: "10m", Justification: "benchmark"})
	if err != nil {
		b.Fatal(err)
	}
	args := DatabaseQueryArgs{Resource: "shop", SQL: "SELECT id, total, status FROM orders WHERE id = $1", Params: []any{105},
		GrantID: res.Structured.(*RequestAccessResult).GrantID}
	if _, err := f.svc.DatabaseQuery(ctx, Call{Session: sess}, args); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := f.svc.DatabaseQuery(ctx, Call{Session: sess}, args); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLiveGrantsBeforeConnectionLimit measures how many live grants —
// each with the one connection its first query leaves open — fit under a
// connection limit, and what the next agent gets: a refusal, at once. The
// limit is the test database's CONNECTION LIMIT (40), which bites exactly as
// max_connections does (SQLSTATE 53300) without starving anything else on
// the server. It runs once, whatever b.N.
func BenchmarkLiveGrantsBeforeConnectionLimit(b *testing.B) {
	const limit = 40
	f := newRoleFixture(b)
	ctx := context.Background()
	if _, err := f.admin.Exec(ctx, fmt.Sprintf("ALTER DATABASE %s CONNECTION LIMIT %d", testDB.Name, limit)); err != nil {
		b.Fatal(err)
	}
	defer f.admin.Exec(context.Background(), fmt.Sprintf("ALTER DATABASE %s CONNECTION LIMIT -1", testDB.Name))
	sess := newSession("analytics-many")
	call := Call{Session: sess}
	live := 0
	var refused time.Duration
	var code grants.Code
	var message string
	for live < 4*limit {
		start := time.Now()
		res, err := f.svc.RequestAccess(ctx, call, RequestAccessArgs{Resource: "shop", Privilege: "read",
			Tables: []string{"public.orders"}, Duration: "10m", Justification: "how many fit"})
		if err == nil {
			_, err = f.svc.DatabaseQuery(ctx, call, DatabaseQueryArgs{Resource: "shop", SQL: "SELECT count(*) FROM orders",
				GrantID: res.Structured.(*RequestAccessResult).GrantID})
		}
		if err != nil {
			refused = time.Since(start)
			d, _ := grants.AsDenial(err)
			if d != nil {
				code, message = d.Code, d.Message
			}
			break
		}
		live++
	}
	var own int
	if err := f.admin.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE usename = $1", f.keyhole).Scan(&own); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(live), "live-grants")
	b.ReportMetric(float64(own), "keyhole-conns")
	b.ReportMetric(float64(refused.Microseconds())/1000, "refusal-ms")
	b.Logf("limit %d: %d live grants, keyhole's own connections %d; then %s in %s: %s", limit, live, own, code, refused, message)
	if code != grants.CodeUnavailable {
		b.Errorf("past the limit: %s %q, want UNAVAILABLE", code, message)
	}
	if _, err := f.svc.ReleaseAccess(ctx, call, ReleaseAccessArgs{All: true}); err != nil {
		b.Fatal(err)
	}
}
