package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAuditVerbs drives `keyhole audit` over a trail a real session wrote.
func TestAuditVerbs(t *testing.T) {
	e := newEnv(t)
	s := e.start(t, "analytics-audit")
	grant := s.grantRead("public.orders")
	s.ok("database_query", q("SELECT count(*) FROM orders"))
	s.refused("OUT_OF_SCOPE", "database_query", q("SELECT * FROM payment_secrets"))
	s.close()
	trail := filepath.Join(e.dir, "data", "audit.jsonl")

	audit := func(args ...string) (string, error) {
		var out, errb bytes.Buffer
		err := run(context.Background(), append([]string{"audit"}, args...), nil, &out, &errb)
		return out.String() + errb.String(), err
	}
	if out, err := audit("verify", trail); err != nil {
		t.Fatalf("verify of an untouched trail: %v\n%s", err, out)
	}
	out, err := audit("search", "--file", trail, "--grant", grant, "--code", "OUT_OF_SCOPE")
	if err != nil || strings.Count(strings.TrimSpace(out), "\n") != 0 || !strings.Contains(out, "payment_secrets") {
		t.Errorf("search by grant and code: %v\n%s", err, out)
	}
	out, err = audit("export", "--file", trail, "--event", "query.completed")
	if err != nil || !strings.Contains(out, `"event":"query.completed"`) || strings.Count(out, "\n") != 1 {
		t.Errorf("export: %v\n%s", err, out)
	}

	// One changed byte is found and named.
	b, _ := os.ReadFile(trail)
	b = bytes.Replace(b, []byte(`count(*) FROM orders`), []byte(`count(*) FROM ordert`), 1)
	if err := os.WriteFile(trail, b, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = audit("verify", trail)
	var code exitError
	if !errors.As(err, &code) || code != 1 || !strings.Contains(out, "seq") {
		t.Errorf("verify of a tampered trail: %v\n%s", err, out)
	}
}
