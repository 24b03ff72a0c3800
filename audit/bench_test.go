package audit

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkRecord measures Record with each fsync mode and 1 or 16
// concurrent writers (sessions): records/s over the run, and the p50 and
// p99 latency a call sees.
//
//	go test -run '^$' -bench 'Record' -benchtime 5s ./audit
func BenchmarkRecord(b *testing.B) {
	for _, mode := range []FsyncMode{FsyncAlways, FsyncBatch} {
		for _, writers := range []int{1, 16} {
			b.Run(fmt.Sprintf("%s-%d", mode, writers), func(b *testing.B) {
				benchRecord(b, mode, writers)
			})
		}
	}
}

func benchRecord(b *testing.B, mode FsyncMode, writers int) {
	l, err := Open(Options{Path: filepath.Join(b.TempDir(), "audit.jsonl"), Fsync: mode, Signer: goldenKey()})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	var next atomic.Int64
	lat := make([][]time.Duration, writers)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
				e := testEvent(int(i))
				t0 := time.Now()
				if err := l.Record(ctx, e); err != nil {
					b.Error(err)
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) > 0 {
		b.ReportMetric(float64(len(all))/elapsed.Seconds(), "records/s")
		b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
	}
}

// bigTrail is the 1,000,000-record trail BenchmarkVerify reads, made once
// per test binary run and removed by TestMain.
var bigTrail struct {
	once sync.Once
	dir  string
	err  error
}

// BenchmarkVerify verifies a 1,000,000-record trail with a checkpoint every
// 1000 records (about 500 MB; generating it takes a while, once).
//
//	go test -run '^$' -bench 'Verify' -benchtime 1x ./audit
func BenchmarkVerify(b *testing.B) {
	const n = 1_000_000
	bigTrail.once.Do(func() {
		bigTrail.dir, bigTrail.err = os.MkdirTemp("", "audit-bench")
		if bigTrail.err == nil {
			syntheticTrail(b, filepath.Join(bigTrail.dir, "audit.jsonl"), n, 1000, goldenKey())
		}
	})
	if bigTrail.err != nil {
		b.Fatal(bigTrail.err)
	}
	path := filepath.Join(bigTrail.dir, "audit.jsonl")
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	keys := keysFor(goldenKey())
	b.SetBytes(fi.Size())
	b.ResetTimer()
	for range b.N {
		rep, err := Verify(context.Background(), []string{path}, keys)
		if err != nil {
			b.Fatal(err)
		}
		if rep.ExitCode() != ExitIntact || rep.Records != n+n/1000 {
			b.Fatalf("report:\n%s", rep)
		}
	}
	b.ReportMetric(float64(b.N)*float64(n)/b.Elapsed().Seconds(), "records/s")
}
