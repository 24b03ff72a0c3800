package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/keyholehq/keyhole/config"
	"github.com/keyholehq/keyhole/grants"
)

const yaml = `resources:
  shop:
    dsn: postgres://keyhole@localhost/shop
    enforcement: gate-only
    tables:
      public.orders: {}
      public.customers: {columns: [id, name, region]}
  hr:
    dsn: postgres://keyhole@localhost/hr
    enforcement: gate-only
    tables:
      public.salaries: {}
agents:
  analytics-admin:
    allow:
      - {resource: hr, privileges: [read], max_duration: 1m}
  analytics-*:
    allow:
      - {resource: shop, privileges: [read], max_duration: 15m, approval: auto}
      - {resource: shop, privileges: [write], tables: [public.orders], max_duration: 5m, approval: admin}
`

func load(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.Parse(strings.NewReader(yaml), "k.yaml", func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestDecide(t *testing.T) {
	cfg := load(t)
	tests := []struct {
		name string
		req  Request
		code grants.Code // "" = allowed
		want string      // substring of the message or of the notes
	}{
		// Refusals first.
		{"unknown agent", Request{Agent: "intruder", Resource: "shop", Privilege: "read", Tables: []string{"public.orders"}}, grants.CodePolicyDenied, "may not request"},
		{"unknown resource", Request{Agent: "analytics-x", Resource: "nope", Privilege: "read", Tables: []string{"public.orders"}}, grants.CodePolicyDenied, "may not request"},
		{"resource of another agent", Request{Agent: "analytics-x", Resource: "hr", Privilege: "read", Tables: []string{"public.salaries"}}, grants.CodePolicyDenied, ""},
		{"exact name wins over the glob", Request{Agent: "analytics-admin", Resource: "shop", Privilege: "read", Tables: []string{"public.orders"}}, grants.CodePolicyDenied, ""},
		{"bad privilege", Request{Agent: "analytics-x", Resource: "shop", Privilege: "admin", Tables: []string{"public.orders"}}, grants.CodeInvalidArgument, "read"},
		{"no tables", Request{Agent: "analytics-x", Resource: "shop", Privilege: "read"}, grants.CodeInvalidArgument, "requestable: public.orders"},
		{"table not listed", Request{Agent: "analytics-x", Resource: "shop", Privilege: "read", Tables: []string{"public.payment_secrets"}}, grants.CodeOutOfScope, "public.payment_secrets"},
		{"schema-less table", Request{Agent: "analytics-x", Resource: "shop", Privilege: "read", Tables: []string{"orders"}}, grants.CodeInvalidArgument, "schema.table"},
		{"quoted case differs", Request{Agent: "analytics-x", Resource: "shop", Privilege: "read", Tables: []string{`public."Orders"`}}, grants.CodeOutOfScope, "Orders"},
		{"ungrantable column", Request{Agent: "analytics-x", Resource: "shop", Privilege: "read", Tables: []string{"public.customers(id, ssn)"}}, grants.CodeOutOfScope, "ssn"},
		{"write outside the rule's tables", Request{Agent: "analytics-x", Resource: "shop", Privilege: "write", Tables: []string{"public.customers"}}, grants.CodeOutOfScope, "public.customers"},
		{"bad duration", Request{Agent: "analytics-x", Resource: "shop", Privilege: "read", Tables: []string{"public.orders"}, Duration: "forever"}, grants.CodeInvalidArgument, "duration"},
		{"negative duration", Request{Agent: "analytics-x", Resource: "shop", Privilege: "read", Tables: []string{"public.orders"}, Duration: "-5m"}, grants.CodeInvalidArgument, "duration"},
		{"same table twice", Request{Agent: "analytics-x", Resource: "shop", Privilege: "read", Tables: []string{"public.orders", "PUBLIC.ORDERS"}}, grants.CodeOutOfScope, "twice"},
		// Allowed.
		{"read", Request{Agent: "analytics-x", Resource: "shop", Privilege: "read", Tables: []string{"public.orders"}}, "", ""},
		{"columns narrowed", Request{Agent: "analytics-x", Resource: "shop", Privilege: "read", Tables: []string{"public.customers"}}, "", "narrowed"},
		{"duration capped", Request{Agent: "analytics-x", Resource: "shop", Privilege: "read", Tables: []string{"public.orders"}, Duration: "1h"}, "", "capped at 15m0s"},
		{"write needs admin", Request{Agent: "analytics-x", Resource: "shop", Privilege: "write", Tables: []string{"public.orders"}}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dec, err := Decide(cfg, tt.req)
			if tt.code != "" {
				d, ok := grants.AsDenial(err)
				if !ok || d.Code != tt.code || !strings.Contains(d.Message, tt.want) {
					t.Fatalf("want %s containing %q, got %v", tt.code, tt.want, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.want != "" && !strings.Contains(strings.Join(dec.Notes, "; "), tt.want) {
				t.Errorf("notes %q lack %q", dec.Notes, tt.want)
			}
		})
	}
}

func TestDecisionScope(t *testing.T) {
	cfg := load(t)
	dec, err := Decide(cfg, Request{Agent: "analytics-x", Resource: "shop", Privilege: "read",
		Tables: []string{"public.customers", "public.orders"}, Duration: "2h"})
	if err != nil {
		t.Fatal(err)
	}
	if dec.TTL != 15*time.Minute || dec.Approval != config.ApprovalAuto {
		t.Errorf("ttl %s approval %s", dec.TTL, dec.Approval)
	}
	got := dec.Scope.Tables[0].String() + " " + dec.Scope.Tables[1].String()
	if got != "public.customers(id, name, region) public.orders" {
		t.Errorf("scope %s", got)
	}
	dec, err = Decide(cfg, Request{Agent: "analytics-x", Resource: "shop", Privilege: "write", Tables: []string{"public.orders"}})
	if err != nil || dec.Approval != config.ApprovalAdmin || dec.TTL != DefaultDuration {
		t.Errorf("write: %+v %v", dec, err)
	}
}
