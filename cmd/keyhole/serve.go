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

	"github.com/keyholehq/keyhole/audit"
	"github.com/keyholehq/keyhole/config"
	"github.com/keyholehq/keyhole/grants"
	"github.com/keyholehq/keyhole/grants/pgexec"
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
	tools   *tools.Service
}

func openApp(cfg *config.Config, logger *slog.Logger) (*app, error) {
	for _, res := range cfg.Resources {
		if res.Enforcement != config.GateOnly {
			// Fail closed: never claim a database-side lock that is not there.
			return nil, fmt.Errorf("resource %s: enforcement %s is not available in this version; set enforcement: gate-only", res.Name, res.Enforcement)
		}
		logger.Warn("resource is enforced by keyhole's SQL gate only", "resource", res.Name)
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
	return &app{
		keys: keys, store: store, audit: trail, exec: exec, manager: manager,
		tools: tools.New(cfg, manager, exec, trail, logger.With("component", "tools")),
	}, nil
}

func (a *app) Close() {
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
// like a secret: values of --token/--password-like flags and URL passwords.
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
)
