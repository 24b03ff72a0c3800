package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/keyholehq/keyhole/audit"
)

// fsizeEnv makes the re-executed keyhole run under a file-size limit, as if
// its disk were full past that many bytes.
const fsizeEnv = "KEYHOLE_E2E_FSIZE"

func init() {
	if os.Getenv(execEnv) != "1" || os.Getenv(fsizeEnv) == "" {
		return
	}
	limit, err := strconv.ParseUint(os.Getenv(fsizeEnv), 10, 64)
	if err != nil {
		panic(err)
	}
	// EFBIG instead of death by SIGXFSZ when a write passes the limit.
	signalIgnoreXFSZ()
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: limit, Max: limit}); err != nil {
		panic(err)
	}
}

// TestKill9KeepsEveryAcknowledgedRecord runs concurrent queries through
// keyhole, kills it with SIGKILL in the middle, and checks that the trail
// verifies and holds the records of every call whose result the client got.
func TestKill9KeepsEveryAcknowledgedRecord(t *testing.T) {
	e := newEnv(t)
	s, cmd := e.startChild(t, "analytics-crash")
	cs, ctx := s.cs, context.Background()
	s.grantRead("public.orders")

	var mu sync.Mutex
	acked := map[string]bool{}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				purpose := fmt.Sprintf("w%d-q%d", w, i)
				res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "database_query", Arguments: map[string]any{
					"resource": "shop", "sql": "SELECT id, total FROM orders WHERE id = $1", "params": []any{101 + i%10}, "purpose": purpose}})
				if err != nil {
					return // keyhole is gone
				}
				if !res.IsError {
					mu.Lock()
					acked[purpose] = true
					mu.Unlock()
				}
			}
		}(w)
	}
	waitFor(t, "some acknowledged queries", func() bool { mu.Lock(); defer mu.Unlock(); return len(acked) >= 40 })
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	s.close() // reaps the killed process

	trail := filepath.Join(e.dir, "data", "audit.jsonl")
	files, err := audit.TrailFiles(trail)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := audit.LoadJWKS(filepath.Join(e.dir, "data", "jwks.json"))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Verify(ctx, files, keys)
	if err != nil {
		t.Fatal(err)
	}
	// A tail after the last checkpoint is expected after SIGKILL; a broken chain is not.
	if code := rep.ExitCode(); code != audit.ExitIntact && code != audit.ExitUnsealed {
		t.Fatalf("verify after kill -9:\n%s", rep)
	}
	completed := map[string]bool{}
	for _, ev := range readTrail(t, trail) {
		if ev["event"] == "query.completed" {
			completed[ev["purpose"].(string)] = true
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for p := range acked {
		if !completed[p] {
			t.Errorf("the client received the result of %s, but its query.completed record is not on disk", p)
		}
	}
	t.Logf("%d acknowledged queries, %d completed records on disk", len(acked), len(completed))
}

// TestFullDiskRefusesWithUnavailable runs keyhole on a "disk" that fills up:
// once the trail cannot grow, calls are refused with UNAVAILABLE rather than
// served unrecorded.
func TestFullDiskRefusesWithUnavailable(t *testing.T) {
	e := newEnv(t)
	s, _ := e.startChild(t, "analytics-full", fsizeEnv+"=196608")
	s.grantRead("public.orders")
	var r result
	for i := 0; i < 1000; i++ {
		r = s.call("database_query", map[string]any{"resource": "shop", "sql": "SELECT id FROM orders WHERE id = $1", "params": []any{101}, "purpose": fmt.Sprint("fill ", i)})
		if r.isError {
			break
		}
	}
	if r.code() != "UNAVAILABLE" {
		t.Fatalf("a full trail must refuse calls with UNAVAILABLE; last result %v %s", r.isError, r.text)
	}
	// Still refused, not served unrecorded.
	s.refused("UNAVAILABLE", "database_query", q("SELECT 1"))
	info, err := os.Stat(filepath.Join(e.dir, "data", "audit.jsonl"))
	if err != nil || info.Size() > 196608 {
		t.Fatalf("trail size %v %v", info, err)
	}
}
