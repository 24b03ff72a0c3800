package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// TestDemo runs `make demo`'s scripted agent against a freshly built keyhole
// and checks that every step shows what the README promises.
func TestDemo(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "keyhole")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/keyhole")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build keyhole: %v\n%s", err, out)
	}
	cfg, err := os.ReadFile("../keyhole.yaml")
	if err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "keyhole.yaml")
	if err := os.WriteFile(config, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out, bin, "..", config); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	steps := []string{
		`(?s)== 1\..*public\.customers\(id integer, name text, region text, created_at timestamp with time zone\)`,
		`(?s)== 2\..*refused: NO_GRANT`,
		`(?s)== 3\..*<- granted read on shop: public\.orders, public\.customers\(id, name, region\)`,
		`(?s)== 3\..*PostgreSQL now holds the grant's own role:\n\s+khdemo_[a-z2-7]{20}  VALID UNTIL .*\n\s+privileges: SELECT \(id, name, region\) ON customers, SELECT ON orders\n`,
		`(?s)== 4\..*3 row\(s\) from shop.*<untrusted-data-[0-9a-f]+>`,
		`(?s)== 5\..*<untrusted-data-([0-9a-f]+)>\n.*IGNORE ALL PREVIOUS INSTRUCTIONS.*\n.*</untrusted-data-`,
		`(?s)== 6\..*refused: OUT_OF_SCOPE`,
		`(?s)== 7\..*refused: OUT_OF_SCOPE.*ssn`,
		`(?s)== 8\..*refused: WRITE_NOT_GRANTED`,
		`(?s)== 9\..*<- released g_.*its role is gone:\n\s+\(no keyhole role in the database\)`,
		`(?s)== 10\..*refused: NO_GRANT`,
		`(?s)== 11\..*session\.start.*query\.denied.*access\.granted.*query\.allowed.*query\.completed.*access\.released.*session\.end`,
	}
	for _, s := range steps {
		if !regexp.MustCompile(s).MatchString(out.String()) {
			t.Errorf("demo output lacks %s\n%s", s, out.String())
		}
	}
}
