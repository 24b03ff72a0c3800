package audit

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFilter(t *testing.T) {
	e := &Event{
		Time: goldenTime, Event: QueryDenied, Agent: "reporting", Grant: "g_1", Code: "SCOPE_VIOLATION",
		Session: "spiffe://keyhole.local/agent/reporting/session/7f3a9c2e51d04b7a",
	}
	tests := []struct {
		f    Filter
		want bool
	}{
		{Filter{}, true},
		{Filter{Agent: "reporting"}, true},
		{Filter{Agent: "report"}, false},
		{Filter{Session: e.Session}, true},
		{Filter{Session: "7f3a9c2e"}, true},
		{Filter{Session: "7f3a"}, true},
		{Filter{Session: "8f3a"}, false},
		{Filter{Grant: "g_1"}, true},
		{Filter{Grant: "g_2"}, false},
		{Filter{Event: "query.denied"}, true},
		{Filter{Event: "query"}, true},
		{Filter{Event: "query."}, true},
		{Filter{Event: "quer"}, false},
		{Filter{Event: "access"}, false},
		{Filter{Code: "scope_violation"}, true},
		{Filter{Code: "NOT_GRANTED"}, false},
		{Filter{Since: goldenTime}, true},
		{Filter{Since: goldenTime.Add(1)}, false},
		{Filter{Until: goldenTime}, false},
		{Filter{Until: goldenTime.Add(1)}, true},
		{Filter{Agent: "reporting", Code: "NOT_GRANTED"}, false},
	}
	for _, tt := range tests {
		if got := tt.f.Match(e); got != tt.want {
			t.Errorf("%+v.Match = %v, want %v", tt.f, got, tt.want)
		}
	}
}

func TestTail(t *testing.T) {
	dir := t.TempDir()
	path := writeTrail(t, dir, 60, func(o *Options) { o.RotateBytes = 2048; o.CheckpointEvery = 1000 })
	files, _ := TrailFiles(path)
	if len(files) < 3 {
		t.Fatalf("want several files, got %v", files)
	}
	var all []uint64
	Scan(context.Background(), files, func(_ []byte, e *Event) error {
		all = append(all, e.Seq)
		return nil
	})
	for _, n := range []int{1, 5, len(all) - 1, len(all), len(all) + 10} {
		var got []uint64
		err := Tail(context.Background(), path, TailOptions{N: n}, func(_ []byte, e *Event) error {
			got = append(got, e.Seq)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		want := all[max(0, len(all)-n):]
		if !equalSeqs(got, want) {
			t.Errorf("tail -n %d = %v, want %v", n, got, want)
		}
	}
}

func equalSeqs(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Follow sees records appended after it starts, across a rotation, and
// nothing twice.
func TestTailFollow(t *testing.T) {
	dir := t.TempDir()
	path := writeTrail(t, dir, 3, nil)
	l, err := Open(Options{Path: path, Signer: goldenKey(), RotateBytes: 4096, CheckpointEvery: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	seen := make(chan uint64, 1000)
	done := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		first := true
		done <- Tail(ctx, path, TailOptions{N: 1, Follow: true, Poll: time.Millisecond}, func(_ []byte, e *Event) error {
			if first {
				first = false
				close(started)
			}
			seen <- e.Seq
			return nil
		})
	}()
	<-started
	start := <-seen
	var want []uint64
	for i := range 40 { // several rotations at 4 KiB
		e := testEvent(i)
		if err := l.Record(ctx, e); err != nil {
			t.Fatal(err)
		}
		want = append(want, e.Seq)
	}
	last := want[len(want)-1]
	var got []uint64
	for seq := range seen {
		got = append(got, seq)
		if seq == last {
			break
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// got holds the new records and the checkpoints around rotations.
	var records []uint64
	prev := start
	for _, s := range got {
		if s != prev+1 {
			t.Fatalf("follow skipped or repeated: %d after %d (%v)", s, prev, got)
		}
		prev = s
	}
	for _, s := range got {
		for _, w := range want {
			if s == w {
				records = append(records, s)
			}
		}
	}
	if !equalSeqs(records, want) {
		t.Errorf("followed %v, want %v", records, want)
	}
	if files, _ := TrailFiles(path); len(files) < 3 {
		t.Errorf("no rotation happened: %v", files)
	}
}

func TestFormat(t *testing.T) {
	e := goldenEvent()
	got := Format(e)
	want := `42 2025-03-14T15:09:26.535Z query.completed  agent=reporting session=7f3a9c2e grant=g_01HQ3Z request=r_01HQ3Y resource=analytics privilege=read tables=public.orders,public.customers decision=allow fp=a1b2c3d4e5f60718 sql="SELECT id, total FROM orders WHERE total > $1" rows=3 ms=1.25`
	if got != want {
		t.Errorf("Format:\n got %s\nwant %s", got, want)
	}
	denied := &Event{Seq: 7, Time: goldenTime, Event: QueryDenied, Agent: "a", Code: "SCOPE_VIOLATION",
		Reason: "writes   public.orders\n not granted", Query: &Query{SQL: strings.Repeat("SELECT 1 ", 20)}}
	got = Format(denied)
	if !strings.Contains(got, `code=SCOPE_VIOLATION`) || !strings.Contains(got, `reason="writes public.orders not granted"`) ||
		!strings.Contains(got, "…") || strings.Contains(got, "\n") {
		t.Errorf("Format(denied) = %s", got)
	}
}

func TestTrailFilesIgnoresOthers(t *testing.T) {
	dir := t.TempDir()
	path := writeTrail(t, dir, 3, nil)
	for _, name := range []string{"audit-notatime.jsonl", "audit.jsonl.lock", "other.jsonl", "audit-20250101T000000.000000000Z.txt"} {
		writeLines(t, filepath.Join(dir, name), nil)
	}
	files, err := TrailFiles(path)
	if err != nil || len(files) != 1 || files[0] != path {
		t.Errorf("TrailFiles = %v, %v", files, err)
	}
}
