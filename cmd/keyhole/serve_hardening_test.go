package main

import (
	"strings"
	"testing"
)

// The parent's command line goes into every audit record; secrets in the
// usual shapes must not.
func TestRedactCommandMasksSecrets(t *testing.T) {
	for _, argv := range [][]string{
		{"psql", "host=db user=app password=hunter2 dbname=shop"},
		{"agent", "--dsn", "postgres://app:hunter2@db/shop"},
		{"curl", "-H", "Authorization: Bearer hunter2"},
		{"agent", "https://api.example/v1?api_key=hunter2&x=1"},
		{"agent", "--password", "hunter2"},
		{"env", "PGPASSWORD=hunter2", "agent"},
	} {
		if got := redactCommand(argv); strings.Contains(got, "hunter2") {
			t.Errorf("redactCommand(%q) = %q", argv, got)
		}
	}
	if got := redactCommand([]string{"claude", "--model", "opus", "--verbose"}); got != "claude --model opus --verbose" {
		t.Errorf("plain arguments changed: %q", got)
	}
}
