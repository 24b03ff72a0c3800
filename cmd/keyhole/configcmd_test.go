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

func TestConfigCheck(t *testing.T) {
	const password = "c0nfig-check-pw"
	t.Setenv("KH_CHECK_DSN", "postgres://kh:"+password+"@127.0.0.1:5432/app")
	dir := t.TempDir()
	write := func(name, src string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", `resources:
  db:
    dsn: ${KH_CHECK_DSN}
    enforcement: gate-only
    tables: {public.orders: {}}
agents:
  bot:
    allow: [{resource: db, privileges: [read]}]
`)
	bad := write("bad.yaml", `resources:
  db:
    dsn: ${KH_CHECK_DSN}
    enforcement: gate-only
    tables: {orders: {}}
    colour: blue
agents:
  bot:
    allow: [{resource: dbx, privileges: [read]}]
`)

	tests := []struct {
		name       string
		args       []string
		exit       int // 0: nil error
		wantOut    []string
		wantStderr string
	}{
		{"valid with a warning", []string{"check", good}, 0, []string{
			good + ":4: warning: resources.db.enforcement: keyhole's parser is the only lock",
			good + ": ok (1 resource, 1 agent, 1 warning)",
		}, ""},
		// --connect really connects: an unreachable database is an error, since a check that could not run must not pass.
		{"flag after the file", []string{"check", good, "--connect"}, 1, []string{good + ":4: warning", good + ":2: resources.db: cannot verify in the database"}, "1 error, 1 warning"},
		{"flag before the file", []string{"check", "--connect", good}, 1, []string{good + ":4: warning", good + ":2: resources.db: cannot verify in the database"}, "1 error, 1 warning"},
		{"every problem", []string{"check", bad}, 1, []string{
			bad + ":4: warning: resources.db.enforcement: keyhole's parser is the only lock",
			bad + `:5: resources.db.tables.orders: table "orders": want schema.table`,
			bad + `:6: resources.db: unknown key "colour"`,
			bad + `:9: agents.bot.allow[0].resource: unknown resource "dbx"`,
		}, "3 errors, 1 warning"},
		{"missing file", []string{"check", filepath.Join(dir, "nope.yaml")}, 1, []string{filepath.Join(dir, "nope.yaml") + ": cannot read"}, "1 error"},
		{"no file", []string{"check"}, 2, nil, "want exactly one FILE"},
		{"two files", []string{"check", good, bad}, 2, nil, "want exactly one FILE"},
		{"no subcommand", nil, 2, nil, "usage: keyhole config check"},
		{"unknown subcommand", []string{"lint", good}, 2, nil, `unknown subcommand "lint"`},
		{"unknown flag", []string{"check", "--fix", good}, 2, nil, "flag provided but not defined: -fix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := runConfig(context.Background(), tt.args, &stdout, &stderr)
			var ex exitError
			switch {
			case tt.exit == 0 && err != nil:
				t.Fatalf("error %v; stdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
			case tt.exit != 0 && (!errors.As(err, &ex) || int(ex) != tt.exit):
				t.Fatalf("error %v, want exit status %d; stderr:\n%s", err, tt.exit, stderr.String())
			}
			lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
			if len(tt.wantOut) > 0 && len(lines) != len(tt.wantOut) {
				t.Errorf("stdout has %d lines, want %d:\n%s", len(lines), len(tt.wantOut), stdout.String())
			}
			for i, w := range tt.wantOut {
				if i >= len(lines) || !strings.HasPrefix(lines[i], w) {
					t.Errorf("stdout line %d: want prefix %q in:\n%s", i+1, w, stdout.String())
				}
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.wantStderr, stderr.String())
			}
			if strings.Contains(stdout.String()+stderr.String(), password) {
				t.Error("the DSN password was printed")
			}
		})
	}
}
