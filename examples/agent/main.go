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
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
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
	fmt.Fprintf(w, "demo database %s: schema and seed from %s\n", db.Name, filepath.Join(examples, "demo"))
	for _, f := range []string{"schema.sql", "seed.sql"} {
		sql, err := os.ReadFile(filepath.Join(examples, "demo", f))
		if err != nil {
			return err
		}
		if err := db.Exec(ctx, string(sql)); err != nil {
			return fmt.Errorf("load %s: %w", f, err)
		}
	}
	dsn, dropRole, err := keyholeRole(ctx, db)
	if err != nil {
		return err
	}
	defer dropRole()
	cmd := exec.Command(keyhole, "serve", "--stdio", "--config", config, "--agent", "analytics-demo")
	cmd.Env = append(os.Environ(), "KEYHOLE_DEMO_DSN="+dsn)
	cmd.Stderr = io.Discard // keyhole's own JSON log

	client := mcp.NewClient(&mcp.Implementation{Name: "keyhole-demo-agent", Version: "1.0.0"}, nil)
	session, err := client.Connect(ctx, &mcp.CommandTransport{Command: cmd}, nil)
	if err != nil {
		return fmt.Errorf("connect to keyhole: %w", err)
	}
	d := demo{ctx: ctx, w: w, s: session, db: db}

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
	d.roles("   PostgreSQL now holds the grant's own role")
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
	d.roles("   and its role is gone")
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
	db  *testdb.DB
	err error
}

// roles shows, from PostgreSQL's own catalog, the roles keyhole holds for
// the demo's grants and what each may do.
func (d *demo) roles(title string) {
	if d.err != nil {
		return
	}
	conn, err := pgx.Connect(d.ctx, d.db.DSN)
	if err != nil {
		d.err = err
		return
	}
	defer conn.Close(d.ctx)
	rows, err := conn.Query(d.ctx, `
		SELECT r.rolname, r.rolvaliduntil, r.rolconnlimit, coalesce(string_agg(p, ', ' ORDER BY p), '')
		FROM pg_roles r LEFT JOIN (
		    SELECT grantee, privilege_type || ' ON ' || table_name AS p
		    FROM information_schema.role_table_grants
		    UNION ALL
		    SELECT grantee, privilege_type || ' (' || string_agg(column_name, ', ' ORDER BY column_name) || ') ON ' || table_name
		    FROM information_schema.column_privileges c
		    WHERE NOT EXISTS (SELECT 1 FROM information_schema.role_table_grants g
		                      WHERE g.grantee = c.grantee AND g.table_name = c.table_name AND g.privilege_type = c.privilege_type)
		    GROUP BY grantee, privilege_type, table_name
		) g ON g.grantee = r.rolname
		WHERE r.rolname LIKE 'khdemo\_%' GROUP BY 1, 2, 3 ORDER BY 1`)
	if err != nil {
		d.err = err
		return
	}
	defer rows.Close()
	fmt.Fprintln(d.w, title+":")
	n := 0
	for rows.Next() {
		var name, privileges string
		var until *time.Time
		var limit int
		if err := rows.Scan(&name, &until, &limit, &privileges); err != nil {
			d.err = err
			return
		}
		n++
		valid := "never"
		if until != nil {
			valid = until.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(d.w, "   %s  VALID UNTIL %s  CONNECTION LIMIT %d\n     privileges: %s\n", name, valid, limit, privileges)
	}
	if n == 0 {
		fmt.Fprintln(d.w, "   (no keyhole role in the database)")
	}
	d.err = rows.Err()
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

// keyholeRole creates keyhole's own PostgreSQL role the way the README's
// setup does — CREATEROLE and grant options on the listed tables, never
// superuser — and returns a DSN that logs in as it.
func keyholeRole(ctx context.Context, db *testdb.DB) (string, func(), error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, err
	}
	role := "keyhole_demo_" + hex.EncodeToString(b[:])
	password := hex.EncodeToString(append(b[:], b[:]...))
	setup := fmt.Sprintf(`CREATE ROLE %[1]s LOGIN PASSWORD '%[2]s' CREATEROLE INHERIT;
		GRANT USAGE ON SCHEMA public TO %[1]s WITH GRANT OPTION;
		GRANT SELECT ON public.orders, public.customers TO %[1]s WITH GRANT OPTION;
		GRANT INSERT, UPDATE, DELETE ON public.orders TO %[1]s WITH GRANT OPTION;`, role, password)
	if err := db.Exec(ctx, setup); err != nil {
		return "", nil, fmt.Errorf("create keyhole's role: %w", err)
	}
	drop := func() {
		ctx := context.WithoutCancel(ctx)
		// Its privileges live in the demo database; then the role itself goes.
		_ = db.Exec(ctx, "DROP OWNED BY "+role)
		conn, err := pgx.Connect(ctx, testdb.AdminDSN())
		if err == nil {
			defer conn.Close(ctx)
			_, _ = conn.Exec(ctx, "DROP ROLE IF EXISTS "+role)
		}
	}
	u, err := url.Parse(db.DSN)
	if err != nil {
		drop()
		return "", nil, err
	}
	u.User = url.UserPassword(role, password)
	return u.String(), drop, nil
}
