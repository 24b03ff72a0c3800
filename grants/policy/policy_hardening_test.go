package policy

import (
	"testing"
	"time"

	"github.com/keyholehq/keyhole/grants"
)

// Grant times are whole seconds (JWT NumericDate): a duration under a
// second would issue a grant already expired when its token is read, and
// a fractional one a record that outlives its token.
func TestDurationIsWholeSeconds(t *testing.T) {
	cfg := load(t)
	req := Request{Agent: "analytics-x", Resource: "shop", Privilege: "read", Tables: []string{"public.orders"}}
	req.Duration = "500ms"
	_, err := Decide(cfg, req)
	if d, ok := grants.AsDenial(err); !ok || d.Code != grants.CodeInvalidArgument {
		t.Errorf("500ms: want INVALID_ARGUMENT, got %v", err)
	}
	req.Duration = "90.5s"
	dec, err := Decide(cfg, req)
	if err != nil {
		t.Fatal(err)
	}
	if dec.TTL%time.Second != 0 {
		t.Errorf("90.5s: TTL %s is not whole seconds", dec.TTL)
	}
}
