package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/keyholehq/keyhole/audit"
	"github.com/keyholehq/keyhole/config"
)

const auditUsage = `usage:
  keyhole audit verify [--jwks FILE] [--json] [--config FILE] [FILE|DIR …]
  keyhole audit tail   [-f] [-n N] [--json] [--config FILE | --file TRAIL]
  keyhole audit search [filters] [--json] [--config FILE | --file TRAIL]
  keyhole audit export [filters] [--config FILE | --file TRAIL]

filters: --agent NAME --session ID --grant ID --event NAME --code CODE
         --since TIME --until TIME (RFC 3339, a date, or a duration ago: 2h)

verify exits 0 when the chain is intact and sealed by a checkpoint, 1 when it
names a record changed, removed, inserted or reordered, a cut tail or a bad
signature, 2 on a usage or read error, 3 when records follow the last
checkpoint.
`

// runAudit reads and verifies the audit trail.
func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, auditUsage)
		return exitError(2)
	}
	switch args[0] {
	case "verify":
		return auditVerify(ctx, args[1:], stdout, stderr)
	case "tail":
		return auditTail(ctx, args[1:], stdout, stderr)
	case "search":
		return auditSearch(ctx, args[1:], stdout, stderr, false)
	case "export":
		return auditSearch(ctx, args[1:], stdout, stderr, true)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, auditUsage)
		return nil
	}
	fmt.Fprintf(stderr, "keyhole audit: unknown verb %q\n\n%s", args[0], auditUsage)
	return exitError(2)
}

// trailFlags locate the trail: --file, or audit.file of --config.
type trailFlags struct {
	config, file string
}

func (t *trailFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&t.config, "config", "keyhole.yaml", "config file whose audit.file is the trail")
	fs.StringVar(&t.file, "file", "", "the trail file (default: audit.file of --config)")
}

// path returns the trail file, and the data directory when it comes from
// the config.
func (t *trailFlags) path() (trail, dataDir string, err error) {
	if t.file != "" {
		return t.file, "", nil
	}
	cfg, err := config.Load(t.config)
	if err != nil {
		return "", "", fmt.Errorf("%w (or name the trail with --file)", err)
	}
	return cfg.Audit.File, cfg.DataDir, nil
}

func auditVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var tf trailFlags
	tf.register(fs)
	jwks := fs.String("jwks", "", "JWKS holding keyhole's public keys (default: jwks.json in the data directory, next to the trail)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	args, err := parseArgs(fs, args)
	if err != nil {
		return exitError(2)
	}
	// FILE and DIR arguments, or the whole trail of the config.
	var files []string
	keysDir := ""
	if len(args) == 0 {
		trail, dataDir, err := tf.path()
		if err != nil {
			return auditFail(stderr, err)
		}
		if files, err = audit.TrailFiles(trail); err != nil {
			return auditFail(stderr, err)
		}
		keysDir = dataDir
		if keysDir == "" {
			keysDir = filepath.Dir(trail)
		}
	}
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return auditFail(stderr, err)
		}
		if st.IsDir() {
			more, err := audit.TrailFiles(a)
			if err != nil {
				return auditFail(stderr, err)
			}
			files = append(files, more...)
			if keysDir == "" {
				keysDir = a
			}
			continue
		}
		files = append(files, a)
		if keysDir == "" {
			keysDir = filepath.Dir(a)
		}
	}
	if len(files) == 0 {
		return auditFail(stderr, errors.New("no trail files"))
	}
	if *jwks == "" {
		*jwks = filepath.Join(keysDir, "jwks.json")
	}
	keys, err := audit.LoadJWKS(*jwks)
	if err != nil {
		return auditFail(stderr, fmt.Errorf("%w (name keyhole's JWKS with --jwks)", err))
	}
	rep, err := audit.Verify(ctx, files, keys)
	if err != nil {
		return auditFail(stderr, err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		fmt.Fprint(stdout, rep)
	}
	if code := rep.ExitCode(); code != 0 {
		return exitError(code)
	}
	return nil
}

func auditTail(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("audit tail", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var tf trailFlags
	tf.register(fs)
	n := fs.Int("n", 10, "show the last N records")
	follow := fs.Bool("f", false, "keep printing records as they are written")
	asJSON := fs.Bool("json", false, "print records as they are on the trail (JSON lines)")
	args, err := parseArgs(fs, args)
	if err != nil || len(args) > 0 {
		fmt.Fprint(stderr, auditUsage)
		return exitError(2)
	}
	trail, _, err := tf.path()
	if err != nil {
		return auditFail(stderr, err)
	}
	err = audit.Tail(ctx, trail, audit.TailOptions{N: *n, Follow: *follow}, printRecord(stdout, stderr, *asJSON))
	if err != nil {
		return auditFail(stderr, err)
	}
	return nil
}

func auditSearch(ctx context.Context, args []string, stdout, stderr io.Writer, export bool) error {
	name := "audit search"
	if export {
		name = "audit export"
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var tf trailFlags
	tf.register(fs)
	var f audit.Filter
	fs.StringVar(&f.Agent, "agent", "", "agent name")
	fs.StringVar(&f.Session, "session", "", "session id, or the start of its short form")
	fs.StringVar(&f.Grant, "grant", "", "grant id")
	fs.StringVar(&f.Event, "event", "", "event name, or a family such as query or access")
	fs.StringVar(&f.Code, "code", "", "refusal code")
	since := fs.String("since", "", "from this time (RFC 3339, a date, or a duration ago)")
	until := fs.String("until", "", "before this time")
	asJSON := export
	if !export {
		fs.BoolVar(&asJSON, "json", false, "print records as they are on the trail (JSON lines)")
	}
	args, err := parseArgs(fs, args)
	if err != nil || len(args) > 0 {
		fmt.Fprint(stderr, auditUsage)
		return exitError(2)
	}
	now := time.Now()
	if f.Since, err = parseWhen(*since, now); err != nil {
		return auditFail(stderr, fmt.Errorf("--since: %w", err))
	}
	if f.Until, err = parseWhen(*until, now); err != nil {
		return auditFail(stderr, fmt.Errorf("--until: %w", err))
	}
	trail, _, err := tf.path()
	if err != nil {
		return auditFail(stderr, err)
	}
	files, err := audit.TrailFiles(trail)
	if err != nil {
		return auditFail(stderr, err)
	}
	emit := printRecord(stdout, stderr, asJSON)
	err = audit.Scan(ctx, files, func(line []byte, e *audit.Event) error {
		if e != nil && !f.Match(e) {
			return nil
		}
		return emit(line, e)
	})
	if err != nil {
		return auditFail(stderr, err)
	}
	return nil
}

// printRecord prints a record as its trail line or as one human line; a
// line that is not a record goes to stderr.
func printRecord(stdout, stderr io.Writer, raw bool) audit.ScanFunc {
	return func(line []byte, e *audit.Event) error {
		if e == nil {
			fmt.Fprintf(stderr, "keyhole audit: not a record (run keyhole audit verify): %.80s\n", line)
			return nil
		}
		var err error
		if raw {
			_, err = fmt.Fprintf(stdout, "%s\n", line)
		} else {
			_, err = fmt.Fprintln(stdout, audit.Format(e))
		}
		return err
	}
}

// parseWhen reads a time as RFC 3339, a date or date and minute (UTC), or a
// duration before now.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time (RFC 3339, 2006-01-02, or a duration such as 2h)", s)
}

// auditFail reports a usage or read error: exit status 2.
func auditFail(stderr io.Writer, err error) error {
	fmt.Fprintln(stderr, "keyhole audit:", strings.TrimPrefix(err.Error(), "audit: "))
	return exitError(2)
}
