package pgexec

import (
	"context"
	"encoding/json"
	"runtime"
	"testing"

	"github.com/keyholehq/keyhole/grants"
)

// json and jsonb values keep their numbers exactly, as numeric columns do:
// an id above 2^53 inside a document must not come back rounded.
func TestJSONNumbersAreExact(t *testing.T) {
	e := New()
	defer e.Close()
	res, err := e.Run(context.Background(), resource(), Query{Privilege: grants.Read, MaxRows: 10,
		SQL: `SELECT '{"id": 12345678901234567891, "x": 0.1000000000000000055511151231257827}'::jsonb, '[9007199254740993]'::json`})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(res.Rows[0])
	want := `[{"x":0.1000000000000000055511151231257827,"id":12345678901234567891},[9007199254740993]]` // jsonb orders keys
	if string(got) != want {
		t.Errorf("row\n got %s\nwant %s", got, want)
	}
}

// One row far larger than max_result_bytes (string_agg over a granted
// table makes one easily) is refused as RESULT_TOO_LARGE without keyhole
// first reading all of it into memory.
func TestHugeRowIsRefusedUnread(t *testing.T) {
	e := New()
	defer e.Close()
	res := resource() // max_result_bytes: 1 MiB
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := e.Run(context.Background(), res, Query{Privilege: grants.Read, MaxRows: 10, SQL: `SELECT repeat('x', 64 << 20)`})
	runtime.ReadMemStats(&after)
	if d, ok := grants.AsDenial(err); !ok || d.Code != grants.CodeResultTooLarge {
		t.Errorf("want RESULT_TOO_LARGE, got %v", err)
	}
	if read := after.TotalAlloc - before.TotalAlloc; read > 32<<20 {
		t.Errorf("keyhole allocated %d MiB for a result limited to 1 MiB", read>>20)
	}
	// The pool still serves the next query.
	if _, err := e.Run(context.Background(), res, Query{Privilege: grants.Read, MaxRows: 10, SQL: `SELECT 1`}); err != nil {
		t.Errorf("next query: %v", err)
	}
}
