package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

// TestPolicyCheck answers admins with the code path agents get: policy,
// then the SQL gate built from the resource's catalog.
func TestPolicyCheck(t *testing.T) {
	e := newEnv(t)
	t.Setenv("KEYHOLE_E2E_DSN", shopDSN)
	t.Setenv("KEYHOLE_E2E_DOWN_DSN", "postgres://x@127.0.0.1:1/x")
	check := func(args ...string) (string, int) {
		var out, errb bytes.Buffer
		err := run(context.Background(), append([]string{"policy", "check", "--config", e.config, "--agent", "analytics-admin-check", "--resource", "shop"}, args...), nil, &out, &errb)
		var code exitError
		switch {
		case err == nil:
			return out.String(), 0
		case errors.As(err, &code):
			return out.String() + errb.String(), int(code)
		}
		t.Fatalf("policy check: %v\n%s", err, errb.String())
		return "", -1
	}
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--privilege", "read", "--tables", "public.orders", "--sql", "SELECT * FROM payment_secrets"}, 1, "query: denied OUT_OF_SCOPE"},
		{[]string{"--privilege", "read", "--tables", "public.orders", "--sql", "WITH d AS (DELETE FROM orders RETURNING id) SELECT * FROM d"}, 1, "query: denied WRITE_NOT_GRANTED"},
		{[]string{"--privilege", "read", "--tables", "public.customers(id, ssn)", "--sql", "SELECT 1"}, 1, "request: denied OUT_OF_SCOPE"},
		{[]string{"--privilege", "write", "--tables", "public.orders"}, 0, "request: allowed (approval: admin"},
		{[]string{"--privilege", "read", "--tables", "public.orders,public.customers(id, region)", "--sql",
			"SELECT c.region, count(*) FROM orders o JOIN customers c ON c.id = o.customer_id GROUP BY 1"}, 0,
			"query: allowed (select)\n  reads: public.customers\n  reads: public.orders"},
	}
	for _, tt := range tests {
		out, code := check(tt.args...)
		if code != tt.code || !strings.Contains(out, tt.want) {
			t.Errorf("policy check %q: exit %d, want %d with %q:\n%s", tt.args, code, tt.code, tt.want, out)
		}
	}
}
