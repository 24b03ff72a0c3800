package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/keyholehq/keyhole/config"
	"github.com/keyholehq/keyhole/grants"
	"github.com/keyholehq/keyhole/grants/pgroles"
)

const configUsage = `usage: keyhole config check [--connect] FILE

check validates FILE and prints every problem as FILE:LINE: message
(warnings as FILE:LINE: warning: message). It fails when any problem is an
error. --connect also connects to each resource's database and verifies the
privileges keyhole's own role holds there.
`

// runConfig runs "keyhole config ...": args are the words after "config".
func runConfig(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, configUsage)
		return exitError(2)
	}
	switch args[0] {
	case "check":
		return runConfigCheck(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, configUsage)
		return nil
	}
	fmt.Fprintf(stderr, "keyhole config: unknown subcommand %q\n\n%s", args[0], configUsage)
	return exitError(2)
}

func runConfigCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keyhole config check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, configUsage) }
	connect := fs.Bool("connect", false, "also connect to each resource and verify keyhole's privileges there")
	files, err := parseArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return exitError(2) // the flag package has said why
	}
	if len(files) != 1 {
		fmt.Fprintf(stderr, "keyhole config check: want exactly one FILE\n\n%s", configUsage)
		return exitError(2)
	}
	file := files[0]

	cfg, problems := config.Check(file, os.LookupEnv)
	if cfg != nil && *connect {
		problems = append(problems, checkConnections(ctx, cfg, stderr)...)
	}
	errs, warns := 0, 0
	for _, p := range problems {
		fmt.Fprintln(stdout, p)
		if p.Warning {
			warns++
		} else {
			errs++
		}
	}
	if errs > 0 {
		fmt.Fprintf(stderr, "keyhole config check: %s: %s, %s\n", file, configCount(errs, "error"), configCount(warns, "warning"))
		return exitError(1)
	}
	fmt.Fprintf(stdout, "%s: ok (%s, %s, %s)\n", file,
		configCount(len(cfg.Resources), "resource"), configCount(len(cfg.Agents), "agent"), configCount(warns, "warning"))
	return nil
}

// checkConnections is the hook for "config check --connect": connect to each
// resource with its DSN, confirm keyhole's role can do what the resource's
// enforcement mode needs (CREATEROLE and grant rights for ephemeral-role,
// membership in the mapped roles for set-role), and warn about privileges
// PUBLIC holds on the resource's objects. It returns its findings as
// problems located at each resource's line.
func checkConnections(ctx context.Context, cfg *config.Config, stderr io.Writer) []config.Problem {
	resources := make([]*config.Resource, 0, len(cfg.Resources))
	for _, res := range cfg.Resources {
		resources = append(resources, res)
	}
	sort.Slice(resources, func(i, j int) bool { return resources[i].Line < resources[j].Line })
	var out []config.Problem
	for _, res := range resources {
		where := "resources." + res.Name + ": "
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		findings, err := pgroles.Check(cctx, res, writeTables(cfg, res))
		cancel()
		if err != nil {
			// Fail closed: a check that could not run is not a pass.
			out = append(out, config.Problem{File: cfg.Path, Line: res.Line,
				Msg: where + "cannot verify in the database: " + strings.TrimPrefix(err.Error(), "pgroles: check "+res.Name+": ")})
		}
		for _, f := range findings {
			out = append(out, config.Problem{File: cfg.Path, Line: res.Line, Msg: where + f.Message, Warning: f.Warning})
		}
	}
	fmt.Fprintf(stderr, "keyhole config check: --connect: checked %s in the database\n", configCount(len(resources), "resource"))
	return out
}

// writeTables lists the tables of res that some agent may be granted write on.
func writeTables(cfg *config.Config, res *config.Resource) []grants.Table {
	var out []grants.Table
	add := func(t grants.Table) {
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	for _, a := range cfg.Agents {
		for _, r := range a.Allow {
			if r.Resource != res.Name || !slices.Contains(r.Privileges, grants.Write) {
				continue
			}
			tables := r.Tables
			if tables == nil {
				tables = res.Tables
			}
			for _, t := range tables {
				add(t.Table)
			}
		}
	}
	return out
}

// configCount renders "1 error", "2 errors".
func configCount(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
