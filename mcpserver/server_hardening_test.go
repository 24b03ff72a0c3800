package mcpserver

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyholehq/keyhole/audit"
	"github.com/keyholehq/keyhole/config"
	"github.com/keyholehq/keyhole/grants"
	"github.com/keyholehq/keyhole/grants/pgexec"
	"github.com/keyholehq/keyhole/grants/sqlitestore"
	"github.com/keyholehq/keyhole/tools"
)

// testServer is a Server wired to real keys, store and trail; its one
// resource points at a database that is never reached.
func testServer(t *testing.T) (*Server, string) {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.Parse(strings.NewReader(`data_dir: `+dir+`
resources:
  shop:
    dsn: postgres://nobody@127.0.0.1:1/none?connect_timeout=1
    enforcement: gate-only
    tables: {public.orders: {}}
agents:
  analytics-*:
    allow: [{resource: shop, privileges: [read]}]
`), "test.yaml", func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	keys, err := grants.LoadOrCreateKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	store, err := sqlitestore.Open(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	trailPath := filepath.Join(dir, "audit.jsonl")
	trail, err := audit.Open(audit.Options{Path: trailPath, Fsync: audit.FsyncAlways})
	if err != nil {
		t.Fatal(err)
	}
	exec := pgexec.New()
	t.Cleanup(func() { exec.Close(); trail.Close(); store.Close() })
	gm := grants.NewManager(keys, store, "spiffe://keyhole.local/keyhole", nil)
	svc := tools.New(cfg, gm, exec, trail, nil)
	return New(Options{Tools: svc, Keys: keys, TrustDomain: "keyhole.local", Agent: "analytics-unit",
		Principal: grants.Principal{Kind: "os", Subject: "tester"}}), trailPath
}

// serve runs the server over pipes, sends lines, and returns the responses
// once stdin is closed.
func serve(t *testing.T, s *Server, lines ...string) []map[string]any {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- s.ServeStdio(context.Background(), inR, outW); outW.Close() }()
	var out []map[string]any
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(outR)
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				out = append(out, m)
			}
		}
	}()
	for _, l := range lines {
		if _, err := io.WriteString(inW, l+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	inW.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	<-read
	return out
}

// The client's name and version, as the MCP client gives them, go into
// the signed session identity and every audit record: they are capped.
func TestHugeClientInfoIsCapped(t *testing.T) {
	s, trail := testServer(t)
	huge := strings.Repeat("n", 1<<20)
	init := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"` + huge + `","version":"` + huge + `"}}}`
	serve(t, s, init, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	b, err := os.ReadFile(trail)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if len(line) > 64<<10 {
			t.Errorf("audit record of %d bytes: %.120s…", len(line), line)
		}
	}
}

// Argument names are matched exactly and once: encoding/json would take
// "SQL" for "sql" and the last of two, so an MCP host showing a human the
// call's first "sql" could approve a statement other than the one run.
func TestArgumentNamesAreExactAndUnique(t *testing.T) {
	for _, raw := range []string{
		`{"resource":"shop","sql":"SELECT 1","SQL":"DELETE FROM orders"}`,
		`{"resource":"shop","sql":"SELECT 1","sql":"DELETE FROM orders"}`,
		`{"Resource":"shop","sql":"SELECT 1"}`,
	} {
		var args tools.DatabaseQueryArgs
		err := decode(json.RawMessage(raw), &args)
		if d, ok := grants.AsDenial(err); !ok || d.Code != grants.CodeInvalidArgument {
			t.Errorf("decode(%s) = %v (sql %q), want INVALID_ARGUMENT", raw, err, args.SQL)
		}
	}
	var args tools.DatabaseQueryArgs
	if err := decode(json.RawMessage(`{"resource":"shop","sql":"SELECT $1","params":[{"a":1,"a":2}],"max_rows":3}`), &args); err != nil {
		t.Errorf("nested objects are values, not argument names: %v", err)
	}
}
