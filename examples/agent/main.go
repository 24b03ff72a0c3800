// Command agent is a scripted MCP agent that shows keyhole end to end. It
// uses the official MCP Go SDK as an independent client over stdio:
// discovery, a refused query, a granted request, an answered query, an
// out-of-scope table refused, a write refused, a release and a refusal again
// — then it prints the audit trail of its session.
//
// It creates a fresh demo database from the admin DSN in $KEYHOLE_TEST_DSN
// (default: the local server), loads examples/demo, and drops it at the end.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/keyholehq/keyhole/internal/testdb"
)

func main() {
	keyhole := flag.String("keyhole", "bin/keyhole", "path to the keyhole binary")
	examples := flag.String("examples", "examples", "path to the examples directory (demo dataset)")
	config := flag.String("config", "examples/keyhole.yaml", "keyhole config; its data_dir holds the audit trail")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout, *keyhole, *examples, *config); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, w io.Writer, keyhole, examples, config string) error {
	db, err := testdb.Create(ctx)
	if err != nil {
		return err
	}
	defer db.Drop(context.WithoutCancel(ctx))
	for _, f := range []string{"schema.sql", "seed.sql"} {
		sql, err := os.ReadFile(filepath.Join(examples, "demo", f))
		if err != nil {
			return err
		}
		if err := db.Exec(ctx, string(sql)); err != nil {
			return fmt.Errorf("load %s: %w", f, err)
		}
	}
	cmd := exec.Command(keyhole, "serve", "--stdio", "--config", config, "--agent", "analytics-demo")
	cmd.Env = append(os.Environ(), "KEYHOLE_DEMO_DSN="+db.DSN)
	cmd.Stderr = io.Discard // keyhole's own JSON log

	client := mcp.NewClient(&mcp.Implementation{Name: "keyhole-demo-agent", Version: "1.0.0"}, nil)
	session, err := client.Connect(ctx, &mcp.CommandTransport{Command: cmd}, nil)
	if err != nil {
		return fmt.Errorf("connect to keyhole: %w", err)
	}
	d := demo{ctx: ctx, w: w, s: session}

	d.step("1. Discovery: what may this agent ask for?", "list_resources", nil)
	d.step("2. Query before asking: zero standing privilege", "database_query", map[string]any{
		"resource": "shop", "sql": "SELECT count(*) FROM orders",
	})
	grant := d.step("3. Ask for read access to two tables, narrowed to safe columns", "request_access", map[string]any{
		"resource": "shop", "privilege": "read",
		"tables":        []string{"public.orders", "public.customers(id, name, region)"},
		"duration":      "10m",
		"justification": "weekly revenue by region for the sales report",
	})
	d.step("4. A query inside the grant (note the untrusted-data fence around the rows)", "database_query", map[string]any{
		"resource": "shop",
		"sql": "SELECT c.region, count(*) AS orders, sum(o.total) AS revenue FROM orders o JOIN customers c ON c.id = o.customer_id " +
			"WHERE o.created_at >= $1 GROUP BY c.region ORDER BY revenue DESC",
		"params":  []any{"2024-03-01"},
		"purpose": "revenue by region since March",
	})
	d.step("5. A row carries a prompt injection: it arrives fenced, as data", "database_query", map[string]any{
		"resource": "shop", "sql": "SELECT id, status, note FROM orders WHERE note IS NOT NULL",
	})
	d.step("6. Doing what the injected row says: payment_secrets is out of scope", "database_query", map[string]any{
		"resource": "shop", "sql": "SELECT * FROM payment_secrets",
	})
	d.step("7. A column that may never be granted: customers.ssn", "database_query", map[string]any{
		"resource": "shop", "sql": "SELECT name, ssn FROM customers",
	})
	d.step("8. A write under a read grant", "database_query", map[string]any{
		"resource": "shop", "sql": "DELETE FROM orders WHERE id = 108",
	})
	d.step("9. Done: release every grant", "release_access", map[string]any{"all": true})
	d.step("10. The same query again: the grant is gone", "database_query", map[string]any{
		"resource": "shop", "sql": "SELECT count(*) FROM orders",
	})
	if err := session.Close(); err != nil {
		return fmt.Errorf("close session: %w", err)
	}
	if d.err != nil {
		return d.err
	}
	grantID, _ := grant["grant_id"].(string)
	return printTrail(w, filepath.Join(filepath.Dir(config), "keyhole-data", "audit.jsonl"), grantID)
}

type demo struct {
	ctx context.Context
	w   io.Writer
	s   *mcp.ClientSession
	err error
}

// step calls one tool and prints what the agent sees.
func (d *demo) step(title, tool string, args map[string]any) map[string]any {
	if d.err != nil {
		return nil
	}
	fmt.Fprintf(d.w, "\n== %s\n-> %s", title, tool)
	if args != nil {
		b, _ := json.Marshal(args)
		fmt.Fprintf(d.w, " %s", b)
	}
	fmt.Fprintln(d.w)
	res, err := d.s.CallTool(d.ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		d.err = fmt.Errorf("%s: %w", tool, err)
		return nil
	}
	prefix := "<- "
	if res.IsError {
		prefix = "<- refused: "
	}
	for _, c := range res.Content {
		if t, ok := c.(*mcp.TextContent); ok {
			fmt.Fprintln(d.w, prefix+strings.ReplaceAll(t.Text, "\n", "\n   "))
		}
	}
	out := map[string]any{}
	if b, err := json.Marshal(res.StructuredContent); err == nil {
		_ = json.Unmarshal(b, &out)
	}
	return out
}

// printTrail prints the audit records of the demo's session, found through
// the grant it was given.
func printTrail(w io.Writer, path, grantID string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	type record struct {
		Seq     uint64 `json:"seq"`
		Event   string `json:"event"`
		Session string `json:"session"`
		Agent   string `json:"agent"`
		Grant   string `json:"grant"`
		Code    string `json:"code"`
		Query   *struct {
			SQL string `json:"sql"`
		} `json:"query"`
		Result *struct {
			Rows int `json:"rows"`
		} `json:"result"`
		Hash string `json:"hash"`
	}
	var all []record
	session := ""
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var r record
		if json.Unmarshal(sc.Bytes(), &r) != nil {
			continue
		}
		all = append(all, r)
		if r.Grant == grantID && grantID != "" {
			session = r.Session
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n== 11. The audit trail of this session (%s), from %s\n", session, path)
	for _, r := range all {
		if r.Session != session || session == "" {
			continue
		}
		line := fmt.Sprintf("#%-5d %-16s agent=%s", r.Seq, r.Event, r.Agent)
		if r.Grant != "" {
			line += " grant=" + r.Grant
		}
		if r.Code != "" {
			line += " code=" + r.Code
		}
		if r.Query != nil {
			line += " sql=" + strings.Join(strings.Fields(r.Query.SQL), " ")
		}
		if r.Result != nil {
			line += fmt.Sprintf(" rows=%d", r.Result.Rows)
		}
		fmt.Fprintf(w, "%s hash=%.12s…\n", line, r.Hash)
	}
	fmt.Fprintln(w, "\nVerify the whole trail with: bin/keyhole audit verify", path)
	return nil
}
