package audit

import (
	"os"
	"testing"
)

// Child processes of the process tests run the test binary again with
// childEnv naming their role.
const (
	childEnv     = "KEYHOLE_AUDIT_TEST_CHILD"
	childPathEnv = "KEYHOLE_AUDIT_TEST_PATH"
)

func TestMain(m *testing.M) {
	if role := os.Getenv(childEnv); role != "" {
		os.Exit(runChild(role, os.Getenv(childPathEnv)))
	}
	code := m.Run()
	if bigTrail.dir != "" {
		os.RemoveAll(bigTrail.dir)
	}
	os.Exit(code)
}
