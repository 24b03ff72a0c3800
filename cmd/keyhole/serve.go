package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/keyholehq/keyhole/audit"
	"github.com/keyholehq/keyhole/config"
	"github.com/keyholehq/keyhole/grants"
	"github.com/keyholehq/keyhole/grants/pgexec"
	"github.com/keyholehq/keyhole/grants/pgroles"
	"github.com/keyholehq/keyhole/grants/sqlitestore"
	"github.com/keyholehq/keyhole/mcpserver"
	"github.com/keyholehq/keyhole/tools"
)

const version = mcpserver.Version

func runServe(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "keyhole.yaml", "config file")
	agent := fs.String("agent", os.Getenv("KEYHOLE_AGENT"), "agent name this stdio session acts as (default $KEYHOLE_AGENT)")
	_ = fs.Bool("stdio", true, "serve MCP over stdin/stdout (the default)")
	httpAddr := fs.String("http", "", "serve streamable HTTP on this address")
	if err := fs.Parse(args); err != nil {
		return exitError(2)
	}
	if *httpAddr != "" {
		return errors.New("serve --http is not available in this version; use --stdio")
	}
	if *agent == "" {
		return errors.New("serve: --agent NAME (or $KEYHOLE_AGENT) is required: policy is written per agent")
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))

	cfg, err := config.Load(*configPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitError(1)
	}
	app, err := openApp(cfg, logger)
	if err != nil {
		return err
	}
	defer app.Close()
	if cfg.AgentFor(*agent) == nil {
		logger.Warn("agent has no policy in the config: it can only list (nothing)", "agent", *agent)
	}
	srv := mcpserver.New(mcpserver.Options{
		Tools:       app.tools,
		Keys:        app.keys,
		TrustDomain: cfg.TrustDomain,
		Agent:       *agent,
		Principal:   stdioPrincipal(),
		Logger:      logger,
	})
	logger.Info("keyhole serving stdio", "agent", *agent, "config", cfg.Path, "kid", app.keys.KeyID())
	return srv.ServeStdio(ctx, stdin, stdout)
}

// app is keyhole's wiring: keys, grant store, audit trail, executor, tools.
type app struct {
	keys    *grants.KeyRing
	store   *sqlitestore.Store
	audit   *audit.Log
	exec    *pgexec.Executor
	manager *grants.Manager
	roles   *pgroles.Keeper
	tools   *tools.Service

	stop    context.CancelFunc // ends the background loops
	stopped sync.WaitGroup
}

func openApp(cfg *config.Config, logger *slog.Logger) (*app, error) {
	for _, res := range cfg.Resources {
		switch res.Enforcement {
		case config.GateOnly:
			logger.Warn("resource is enforced by keyhole's SQL gate only", "resource", res.Name)
		default:
			logger.Info("resource is enforced in the database too", "resource", res.Name, "enforcement", string(res.Enforcement))
		}
	}
	keys, err := grants.LoadOrCreateKeys(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	store, err := sqlitestore.Open(filepath.Join(cfg.DataDir, "state.db"))
	if err != nil {
		return nil, err
	}
	trail, err := audit.Open(audit.Options{
		Path:               cfg.Audit.File,
		Fsync:              audit.FsyncMode(cfg.Audit.Fsync),
		Signer:             keys.PrivateKey(),
		KeyID:              keys.KeyID(),
		CheckpointEvery:    cfg.Audit.CheckpointEvery,
		CheckpointInterval: cfg.Audit.CheckpointInterval,
		RotateBytes:        cfg.Audit.RotateBytes,
		RotateAge:          cfg.Audit.RotateAge,
		Logger:             logger.With("component", "audit"),
	})
	if err != nil {
		store.Close()
		return nil, err
	}
	exec := pgexec.New()
	manager := grants.NewManager(keys, store, issuer(cfg), nil)
	roles, err := pgroles.NewKeeper(cfg, manager.Now, logger.With("component", "roles"))
	if err != nil {
		trail.Close()
		store.Close()
		return nil, err
	}
	a := &app{
		keys: keys, store: store, audit: trail, exec: exec, manager: manager, roles: roles,
		tools: tools.New(cfg, manager, exec, trail, logger.With("component", "tools"), tools.WithRoles(roles)),
	}
	ctx, stop := context.WithCancel(context.Background())
	a.stop = stop
	a.stopped.Add(2)
	go func() { defer a.stopped.Done(); a.reapLoop(ctx, logger) }()
	go func() { defer a.stopped.Done(); a.sweepLoop(ctx, logger) }()
	return a, nil
}

// reapInterval is how often a running keyhole looks again for roles left by
// a keyhole that died: at start-up the dead process's backends may not have
// exited yet (its advisory lock is released only then).
const reapInterval = time.Minute

// reapLoop reaps at start-up and then every reapInterval.
func (a *app) reapLoop(ctx context.Context, logger *slog.Logger) {
	t := time.NewTicker(reapInterval)
	defer t.Stop()
	for {
		a.reap(ctx, logger)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// reap drops the database roles that a keyhole which died (kill -9, a lost
// machine) left behind: every role of a resource's prefix that no active
// grant in the shared store owns. It runs in the background, so a database
// that is down does not hold up start-up; VALID UNTIL covers the meantime.
func (a *app) reap(ctx context.Context, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	dropped, err := a.roles.Reap(ctx, func(ctx context.Context) ([]*grants.Record, error) {
		return a.store.List(ctx, grants.Filter{State: grants.Active})
	})
	if len(dropped) > 0 {
		logger.Info("dropped database roles left by an earlier keyhole", "roles", dropped)
	}
	if err != nil && ctx.Err() == nil {
		logger.Warn("reaping leftover database roles failed; their VALID UNTIL still bounds them", "err", err)
	}
}

// sweepLoop ends, every second, the database roles of this process's grants
// that another process ended — `keyhole grants revoke`, or another keyhole's
// expiry sweep — so their pools are closed here too. (The revoking process
// has already terminated the role's sessions and dropped it.)
func (a *app) sweepLoop(ctx context.Context, logger *slog.Logger) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := a.roles.Sweep(ctx, func(ctx context.Context, id string) (bool, error) {
			rec, err := a.store.Get(ctx, id)
			if err != nil {
				return false, err
			}
			return rec.State == grants.Active, nil
		})
		if err != nil && ctx.Err() == nil {
			logger.Error("sweeping ended grants' roles", "err", err)
		}
	}
}

func (a *app) Close() {
	a.stop()
	a.stopped.Wait()
	// Roles still held die with this process: their passwords do.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_ = a.roles.Close(ctx)
	a.exec.Close()
	a.audit.Close()
	a.store.Close()
}

func issuer(cfg *config.Config) string { return "spiffe://" + cfg.TrustDomain + "/keyhole" }

// stdioPrincipal is who spawned this process: the OS user and the parent
// process (pid and command line), as the kernel reports them.
func stdioPrincipal() grants.Principal {
	p := grants.Principal{Kind: "os", UID: os.Getuid(), ParentPID: os.Getppid()}
	if u, err := user.Current(); err == nil {
		p.Subject = u.Username
	} else {
		p.Subject = strconv.Itoa(os.Getuid())
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p.ParentPID)); err == nil {
		p.ParentCommand = redactCommand(strings.Split(strings.TrimRight(string(b), "\x00"), "\x00"))
	}
	return p
}

// redactCommand joins a command line for the audit trail, masking what looks
// like a secret: values of --token/--password-like flags, URL passwords,
// password=/token=-like pairs inside an argument, and Bearer/Basic values.
func redactCommand(argv []string) string {
	out := make([]string, 0, len(argv))
	maskNext := false
	for _, a := range argv {
		switch {
		case maskNext:
			a, maskNext = "[redacted]", false
		case secretFlag.MatchString(a):
			if i := strings.IndexByte(a, '='); i >= 0 {
				a = a[:i+1] + "[redacted]"
			} else {
				maskNext = true
			}
		default:
			a = urlPassword.ReplaceAllString(a, "$1:[redacted]@")
			a = secretPair.ReplaceAllString(a, "$1=[redacted]")
			a = bearer.ReplaceAllString(a, "$1 [redacted]")
		}
		out = append(out, a)
	}
	cmd := strings.Join(out, " ")
	if len(cmd) > 512 {
		cmd = cmd[:512]
	}
	return cmd
}

var (
	secretFlag  = regexp.MustCompile(`(?i)^-{0,2}[a-z0-9_.-]*(token|secret|passw|password|pwd|key|auth|credential)[a-z0-9_.-]*(=|$)`)
	urlPassword = regexp.MustCompile(`(://[^:/@\s]+):[^@\s]*@`)
	// key=value inside one argument: a libpq conninfo string, a URL query.
	secretPair = regexp.MustCompile(`(?i)\b([a-z0-9_.-]*(?:token|secret|passw|pwd|key|auth|credential)[a-z0-9_.-]*)=("[^"]*"|'[^']*'|[^\s&;,]+)`)
	// An HTTP Authorization value passed as an argument.
	bearer = regexp.MustCompile(`(?i)\b(bearer|basic)\s+[^\s"']+`)
)
