package main

import (
	"context"
	"errors"
	"io"
)

// runAudit is replaced by the audit verbs.
func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("audit: not available")
}
