package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/keyholehq/keyhole/audit"
	"github.com/keyholehq/keyhole/config"
	"github.com/keyholehq/keyhole/grants"
	"github.com/keyholehq/keyhole/grants/pgexec"
	"github.com/keyholehq/keyhole/grants/pgroles"
	"github.com/keyholehq/keyhole/grants/policy"
	"github.com/keyholehq/keyhole/grants/sqlitestore"
	"github.com/keyholehq/keyhole/tools"
)

// runPolicy answers "would this grant allow this query?" with the same code
// path database_query uses: policy first, then the SQL gate.
func runPolicy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "check" {
		fmt.Fprintln(stderr, "usage: keyhole policy check --config FILE --agent NAME --resource R --privilege read|write --tables T[,T…] --sql SQL")
		return exitError(2)
	}
	fs := flag.NewFlagSet("policy check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "keyhole.yaml", "config file")
	agent := fs.String("agent", "", "agent name")
	resource := fs.String("resource", "", "resource name")
	privilege := fs.String("privilege", "read", "read or write")
	tables := fs.String("tables", "", "comma-separated tables, e.g. public.orders,public.customers(id, region)")
	sql := fs.String("sql", "", "the statement to check")
	if err := fs.Parse(args[1:]); err != nil {
		return exitError(2)
	}
	cfg, err := config.Load(*configPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitError(2)
	}
	dec, err := policy.Decide(cfg, policy.Request{
		Agent: *agent, Resource: *resource, Privilege: *privilege, Tables: splitTables(*tables),
	})
	if err != nil {
		return printDenial(stdout, "request", err)
	}
	fmt.Fprintf(stdout, "request: allowed (approval: %s, up to %s)\n", dec.Approval, dec.TTL)
	for _, n := range dec.Notes {
		fmt.Fprintln(stdout, "  note:", n)
	}
	if *sql == "" {
		return nil
	}
	exec := pgexec.New()
	defer exec.Close()
	a, err := tools.NewAnalyzer(ctx, exec, cfg.Resource(*resource))
	if err != nil {
		return printDenial(stdout, "query", err)
	}
	an, err := a.Check(*sql, dec.Scope)
	if err != nil {
		return printDenial(stdout, "query", err)
	}
	fmt.Fprintf(stdout, "query: allowed (%s)\n", an.Kind)
	for _, t := range an.Reads {
		fmt.Fprintln(stdout, "  reads:", t)
	}
	for _, t := range an.Writes {
		fmt.Fprintln(stdout, "  writes:", t)
	}
	if len(an.Columns) > 0 {
		fmt.Fprintln(stdout, "  columns:", strings.Join(an.Columns, ", "))
	}
	if len(an.Functions) > 0 {
		fmt.Fprintln(stdout, "  functions:", strings.Join(an.Functions, ", "))
	}
	return nil
}

// splitTables splits on commas outside parentheses.
func splitTables(s string) []string {
	var out []string
	depth, start := 0, 0
	for i, r := range s {
		switch r {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, strings.TrimSpace(s[start:i]))
				start = i + 1
			}
		}
	}
	if rest := strings.TrimSpace(s[start:]); rest != "" {
		out = append(out, rest)
	}
	return out
}

func printDenial(w io.Writer, what string, err error) error {
	d, ok := grants.AsDenial(err)
	if !ok {
		return err
	}
	fmt.Fprintf(w, "%s: denied %s: %s\n", what, d.Code, d.Message)
	return exitError(1)
}

// runGrants lists and revokes grants in the shared state store.
func runGrants(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "list" && args[0] != "revoke") {
		fmt.Fprintln(stderr, "usage: keyhole grants list [--all] --config FILE | keyhole grants revoke --config FILE [--by NAME] GRANT_ID")
		return exitError(2)
	}
	fs := flag.NewFlagSet("grants "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "keyhole.yaml", "config file")
	all := fs.Bool("all", false, "list ended grants too")
	by := fs.String("by", "admin", "who revokes (recorded in the audit trail)")
	if err := fs.Parse(args[1:]); err != nil {
		return exitError(2)
	}
	cfg, err := config.Load(*configPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitError(2)
	}
	store, err := sqlitestore.Open(filepath.Join(cfg.DataDir, "state.db"))
	if err != nil {
		return err
	}
	defer store.Close()
	if args[0] == "list" {
		f := grants.Filter{State: grants.Active}
		if *all {
			f.State = ""
		}
		recs, err := store.List(ctx, f)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "GRANT\tSTATE\tAGENT\tSESSION\tRESOURCE\tPRIVILEGE\tTABLES\tEXPIRES")
		for _, r := range recs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.State, r.Agent, short(r.SessionID), r.Resource,
				r.Scope.Privilege, strings.Join(tableStrings(r.Scope), " "), r.ExpiresAt.UTC().Format(time.RFC3339))
		}
		return tw.Flush()
	}
	if fs.NArg() != 1 {
		return errors.New("grants revoke: name one grant id")
	}
	keys, err := grants.LoadOrCreateKeys(cfg.DataDir)
	if err != nil {
		return err
	}
	trail, err := audit.Open(audit.Options{Path: cfg.Audit.File, Fsync: audit.FsyncMode(cfg.Audit.Fsync),
		Signer: keys.PrivateKey(), KeyID: keys.KeyID(), Logger: slog.New(slog.NewJSONHandler(stderr, nil))})
	if err != nil {
		return err
	}
	defer trail.Close()
	m := grants.NewManager(keys, store, issuer(cfg), nil)
	// --by is what the admin says; the OS user is what the machine says.
	actor := *by + " (os user " + stdioPrincipal().Subject + ")"
	rec, err := m.Revoke(ctx, fs.Arg(0), actor)
	if err != nil {
		return err
	}
	exp := rec.ExpiresAt.UTC()
	if err := trail.Record(ctx, &audit.Event{Event: audit.AccessRevoked, Session: rec.SessionID, Agent: rec.Agent,
		Grant: rec.ID, Resource: rec.Resource, Privilege: string(rec.Scope.Privilege), Tables: tableStrings(rec.Scope),
		ExpiresAt: &exp, Actor: actor}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "revoked %s (agent %s, resource %s)\n", rec.ID, rec.Agent, rec.Resource)
	endRevokedRole(ctx, cfg, rec, stdout, stderr)
	return nil
}

func runKeys(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "rotate" {
		fmt.Fprintln(stderr, "usage: keyhole keys rotate --config FILE")
		return exitError(2)
	}
	fs := flag.NewFlagSet("keys rotate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "keyhole.yaml", "config file")
	if err := fs.Parse(args[1:]); err != nil {
		return exitError(2)
	}
	cfg, err := config.Load(*configPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitError(2)
	}
	keys, err := grants.LoadOrCreateKeys(cfg.DataDir)
	if err != nil {
		return err
	}
	old := keys.KeyID()
	if err := keys.Rotate(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "rotated signing key %s -> %s; the old public key stays in jwks.json\n", old, keys.KeyID())
	return nil
}

func tableStrings(s grants.Scope) []string {
	out := make([]string, len(s.Tables))
	for i, t := range s.Tables {
		out[i] = t.String()
	}
	return out
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// endRevokedRole ends, from this process, the database role of a revoked
// grant of an ephemeral-role resource: its sessions are terminated (a
// running query fails with GRANT_REVOKED) and the role dropped, without
// waiting for the keyhole serving the grant to notice. When the database
// cannot be reached, that keyhole's one-second sweep, its start-up reaping
// and the role's VALID UNTIL remain.
func endRevokedRole(ctx context.Context, cfg *config.Config, rec *grants.Record, stdout, stderr io.Writer) {
	res := cfg.Resource(rec.Resource)
	if res == nil || res.Enforcement != config.EphemeralRole {
		return
	}
	roles, err := pgroles.NewKeeper(&config.Config{Resources: map[string]*config.Resource{res.Name: res}}, nil, nil)
	if err == nil {
		defer roles.Close(ctx)
		err = roles.End(ctx, rec)
	}
	if err != nil {
		fmt.Fprintf(stderr, "keyhole grants revoke: could not end the grant's database role now (%v); the keyhole serving it ends it within a second\n", err)
		return
	}
	fmt.Fprintf(stdout, "ended its database role and sessions\n")
}
