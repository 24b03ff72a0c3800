package audit_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/keyholehq/keyhole/audit"
)

// Write a few records, then verify the chain and its signed checkpoints
// with the public key, as `keyhole audit verify` does with jwks.json.
func Example() {
	dir, err := os.MkdirTemp("", "audit-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		log.Fatal(err)
	}

	trail, err := audit.Open(audit.Options{
		Path:   filepath.Join(dir, "audit.jsonl"),
		Fsync:  audit.FsyncBatch,
		Signer: priv,
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	for _, e := range []*audit.Event{
		{Event: audit.SessionStart, Session: "s1", Agent: "reporting"},
		{Event: audit.QueryAllowed, Session: "s1", Agent: "reporting", Query: &audit.Query{SQL: "SELECT 1"}},
		{Event: audit.QueryCompleted, Session: "s1", Agent: "reporting", Result: &audit.Result{Rows: 1}},
	} {
		if err := trail.Record(ctx, e); err != nil {
			log.Fatal(err) // refuse the call: it would go unrecorded
		}
	}
	if err := trail.Close(); err != nil { // seals the trail with a checkpoint
		log.Fatal(err)
	}

	files, err := audit.TrailFiles(filepath.Join(dir, "audit.jsonl"))
	if err != nil {
		log.Fatal(err)
	}
	keys := audit.KeySet{audit.Thumbprint(pub): pub}
	report, err := audit.Verify(ctx, files, keys)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("records:", report.Records, "checkpoints:", report.Checkpoints)
	fmt.Println("problem:", report.Problem)
	fmt.Println("exit code:", report.ExitCode())
	// Output:
	// records: 4 checkpoints: 1
	// problem: <nil>
	// exit code: 0
}
