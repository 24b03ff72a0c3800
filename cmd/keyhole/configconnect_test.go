package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// config check --connect verifies keyhole's role in each resource's
// database, and fails when it cannot.
func TestConfigCheckConnect(t *testing.T) {
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, shopDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	role := "khcfg_" + randSuffix()
	if _, err := admin.Exec(ctx, fmt.Sprintf(`CREATE ROLE %[1]s LOGIN CREATEROLE;
		GRANT USAGE ON SCHEMA public TO %[1]s WITH GRANT OPTION;
		GRANT SELECT ON orders TO %[1]s WITH GRANT OPTION;`, role)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), shopDSN)
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), fmt.Sprintf("DROP OWNED BY %[1]s; DROP ROLE %[1]s", role)); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	u, _ := url.Parse(shopDSN)
	u.User = url.UserPassword(role, secretPassword)
	t.Setenv("KH_CONNECT_DSN", u.String())
	t.Setenv("KH_CONNECT_SUPER_DSN", shopDSN)
	t.Setenv("KH_CONNECT_DOWN_DSN", "postgres://nobody:"+secretPassword+"@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")

	dir := t.TempDir()
	write := func(name, src string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", `resources:
  shop:
    dsn: ${KH_CONNECT_DSN}
    tables: {public.orders: {}}
agents:
  bot:
    allow: [{resource: shop, privileges: [read]}]
`)
	bad := write("bad.yaml", `resources:
  shop:
    dsn: ${KH_CONNECT_DSN}
    tables: {public.orders: {}, public.customers: {columns: [id, region]}}
  super:
    dsn: ${KH_CONNECT_SUPER_DSN}
    tables: {public.orders: {}}
  down:
    dsn: ${KH_CONNECT_DOWN_DSN}
    tables: {public.orders: {}}
agents:
  bot:
    allow:
      - {resource: shop, privileges: [read, write], tables: [public.orders]}
      - {resource: super, privileges: [read]}
      - {resource: down, privileges: [read]}
`)
	var stdout, stderr bytes.Buffer
	if err := runConfig(ctx, []string{"check", "--connect", good}, &stdout, &stderr); err != nil {
		t.Fatalf("a correct setup: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), good+": ok") {
		t.Errorf("stdout:\n%s", stdout.String())
	}

	stdout.Reset()
	stderr.Reset()
	err = runConfig(ctx, []string{"check", "--connect", bad}, &stdout, &stderr)
	var ex exitError
	if !errors.As(err, &ex) || int(ex) != 1 {
		t.Fatalf("want exit status 1, got %v", err)
	}
	out := stdout.String()
	for _, want := range []string{
		bad + ":2: resources.shop: keyhole's role " + role + " cannot grant SELECT on public.customers(id, region)",
		bad + ":2: resources.shop: keyhole's role " + role + " cannot grant INSERT, UPDATE, DELETE on public.orders",
		bad + ":5: warning: resources.super: keyhole connects as postgres, a superuser",
		bad + ":8: resources.down: cannot verify in the database: cannot connect to the database",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out+stderr.String(), secretPassword) {
		t.Error("a DSN password was printed")
	}
}

func randSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
