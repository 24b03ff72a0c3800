//go:build !unix

package audit

import (
	"errors"
	"os"
)

// Without flock, several processes could fork the chain: refuse to write.
func lockFile(*os.File) error   { return errors.New("file locking is not supported on this platform") }
func unlockFile(*os.File) error { return nil }
