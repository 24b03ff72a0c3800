// Command keyhole is an MCP server that gives LLM agents just-in-time,
// least-privilege access to PostgreSQL, and the admin CLI around it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		var ex exitError
		if errors.As(err, &ex) {
			os.Exit(int(ex))
		}
		fmt.Fprintln(os.Stderr, "keyhole:", err)
		os.Exit(1)
	}
}

// exitError asks main to exit with a code, having already said why.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

const usage = `keyhole — just-in-time, least-privilege PostgreSQL access for LLM agents

usage:
  keyhole serve [--stdio] --config FILE --agent NAME
  keyhole config check [--connect] FILE
  keyhole policy check --config FILE --agent NAME --resource R --privilege read|write --tables T[,T…] --sql SQL
  keyhole grants list|revoke … --config FILE
  keyhole audit verify|tail|search|export …
  keyhole keys rotate --config FILE
  keyhole version
`

// run is the whole CLI, callable from tests.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitError(2)
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], stdin, stdout, stderr)
	case "config":
		return runConfig(ctx, args[1:], stdout, stderr)
	case "policy":
		return runPolicy(ctx, args[1:], stdout, stderr)
	case "grants":
		return runGrants(ctx, args[1:], stdout, stderr)
	case "audit":
		return runAudit(ctx, args[1:], stdout, stderr)
	case "keys":
		return runKeys(ctx, args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "keyhole", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "keyhole: unknown command %q\n\n%s", args[0], usage)
	return exitError(2)
}

// parseArgs parses flags that may come before or after positional
// arguments ("check FILE --connect" as well as "check --connect FILE") and
// returns the positional ones.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		positional, args = append(positional, args[0]), args[1:]
	}
}
