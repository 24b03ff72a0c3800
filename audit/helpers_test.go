package audit

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// goldenKey is a fixed signing key, so that signatures in golden tests are
// stable (Ed25519 signatures are deterministic).
func goldenKey() ed25519.PrivateKey {
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = byte(i + 1)
	}
	return ed25519.NewKeyFromSeed(seed)
}

var goldenTime = time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC)

// goldenEvent sets every field of Event, so that the golden line pins all
// of them.
func goldenEvent() *Event {
	exp := time.Date(2025, 3, 14, 16, 9, 26, 0, time.UTC)
	return &Event{
		Seq:     42,
		Time:    goldenTime,
		Event:   QueryCompleted,
		Session: "spiffe://keyhole.local/agent/reporting/session/7f3a9c2e51d04b7a",
		Agent:   "reporting",
		Principal: &Principal{Kind: "os", Subject: "uid:1000", Issuer: "local", UID: 1000,
			ParentPID: 4242, ParentCommand: "claude"},
		Client:        &Client{Name: "claude-code", Version: "1.0.3"},
		Identity:      "eyJhbGciOiJFZERTQSJ9.e30.c2ln",
		Tool:          "query",
		Resource:      "analytics",
		Grant:         "g_01HQ3Z",
		Request:       "r_01HQ3Y",
		Privilege:     "read",
		Tables:        []string{"public.orders", "public.customers"},
		Duration:      "15m0s",
		ExpiresAt:     &exp,
		Justification: "weekly revenue <report> & churn",
		Purpose:       "answer the user's question",
		Meta:          json.RawMessage(`{ "traceparent": "00-abc-def-01" }`),
		Actor:         "admin@example.com",
		Decision:      "allow",
		Code:          "",
		Reason:        "",
		Query: &Query{SQL: "SELECT id, total FROM orders WHERE total > $1", Params: []any{100, "é", nil, 1.5},
			Redacted: false, Fingerprint: "a1b2c3d4e5f60718", Kind: "select",
			Reads: []string{"public.orders"}, Columns: []string{"id", "total"}, Functions: []string{"now"}},
		Result: &Result{Rows: 3, Columns: []string{"id", "total"}, Truncated: true, ElapsedMS: 1.25,
			Digest: "00ff", Data: json.RawMessage(`[[1,2]]`), DataCut: true, SQLState: ""},
		Prev: "abababababababababababababababababababababababababababababababab",
	}
}

// clock is a fake clock that moves 1ms each time it is read, so records get
// distinct, predictable times; advance moves it further.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: goldenTime} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// keysFor returns the key set holding k's public key.
func keysFor(k ed25519.PrivateKey) KeySet {
	pub := k.Public().(ed25519.PublicKey)
	return KeySet{Thumbprint(pub): pub}
}

// testEvent is a typical query.completed record.
func testEvent(i int) *Event {
	return &Event{
		Event:   QueryCompleted,
		Session: fmt.Sprintf("spiffe://keyhole.local/agent/reporting/session/s%07d", i%7),
		Agent:   "reporting",
		Grant:   fmt.Sprintf("g_%d", i%3),
		Tool:    "query",
		Query:   &Query{SQL: "SELECT id, total FROM orders WHERE total > $1", Params: []any{i}, Fingerprint: "a1b2c3d4e5f60718", Kind: "select"},
		Result:  &Result{Rows: i % 50, Columns: []string{"id", "total"}, ElapsedMS: 1.5, Digest: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
		Reason:  strconv.Itoa(i),
	}
}

// writeTrail writes n records to a fresh trail in dir through a Log, with a
// checkpoint every 5 records, and closes it. It returns the path.
func writeTrail(t testing.TB, dir string, n int, mod func(*Options)) string {
	t.Helper()
	path := filepath.Join(dir, "audit.jsonl")
	opts := Options{Path: path, Fsync: FsyncBatch, Signer: goldenKey(), CheckpointEvery: 5, Now: newClock().Now}
	if mod != nil {
		mod(&opts)
	}
	l, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := l.Record(context.Background(), testEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// syntheticTrail writes n records straight to path (no Log, no syncs), with
// a signed checkpoint every `every` records and at the end: a fast way to
// build a large trail for verify benchmarks.
func syntheticTrail(tb testing.TB, path string, n, every int, key ed25519.PrivateKey) {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	kid := Thumbprint(key.Public().(ed25519.PublicKey))
	var (
		buf  bytes.Buffer
		head [hashSize]byte
		seq  uint64
		now  = goldenTime
	)
	put := func(e *Event) {
		seq++
		now = now.Add(time.Millisecond)
		e.Seq, e.Time = seq, now
		if seq > 1 {
			e.Prev = hex.EncodeToString(head[:])
		}
		buf.Reset()
		if err := encodeRecord(&buf, e); err != nil {
			tb.Fatal(err)
		}
		var prev []byte
		if seq > 1 {
			prev = head[:]
		}
		head = sealLine(&buf, prev)
		w.Write(buf.Bytes())
	}
	checkpoint := func() {
		c := &Checkpoint{Seq: seq, Head: hex.EncodeToString(head[:]), KeyID: kid}
		signCheckpoint(c, now.Add(time.Millisecond), key)
		put(&Event{Event: CheckpointEvent, Checkpoint: c})
	}
	for i := range n {
		put(testEvent(i))
		if (i+1)%every == 0 {
			checkpoint()
		}
	}
	if n%every != 0 {
		checkpoint()
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
}

func readLines(t testing.TB, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.SplitAfter(b, []byte("\n"))[:bytes.Count(b, []byte("\n"))]
}

func writeLines(t testing.TB, path string, lines [][]byte) {
	t.Helper()
	if err := os.WriteFile(path, bytes.Join(lines, nil), 0o600); err != nil {
		t.Fatal(err)
	}
}

func verifyPath(t testing.TB, path string, keys KeySet) *Report {
	t.Helper()
	files, err := TrailFiles(path)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(context.Background(), files, keys)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func goldenKeyOther() ed25519.PrivateKey {
	seed := make([]byte, ed25519.SeedSize)
	seed[0] = 9
	return ed25519.NewKeyFromSeed(seed)
}

func newTextLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
