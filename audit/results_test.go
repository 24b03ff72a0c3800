package audit

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

func TestDigestResult(t *testing.T) {
	utc := goldenTime
	paris := utc.In(time.FixedZone("CET", 3600))
	cols := []string{"id", "name", "at"}
	a := DigestResult(cols, [][]any{{1, "a<b", utc}, {2, nil, math.NaN()}})
	b := DigestResult(cols, [][]any{{int64(1), "a<b", paris}, {int32(2), nil, math.NaN()}})
	if a != b {
		t.Errorf("the same result digests differently: %s vs %s", a, b)
	}
	if want := sha256Hex(`{"columns":["id","name","at"],"rows":[[1,"a<b","2025-03-14T15:09:26.535897Z"],[2,null,"NaN"]]}`); a != want {
		t.Errorf("digest = %s, want %s", a, want)
	}
	for name, other := range map[string]string{
		"row order":  DigestResult(cols, [][]any{{2, nil, math.NaN()}, {1, "a<b", utc}}),
		"a value":    DigestResult(cols, [][]any{{1, "a<c", utc}, {2, nil, math.NaN()}}),
		"a column":   DigestResult([]string{"id", "nom", "at"}, [][]any{{1, "a<b", utc}, {2, nil, math.NaN()}}),
		"a row less": DigestResult(cols, [][]any{{1, "a<b", utc}}),
	} {
		if other == a {
			t.Errorf("changing %s does not change the digest", name)
		}
	}
	if DigestResult(nil, nil) != DigestResult([]string{}, [][]any{}) {
		t.Error("nil and empty digest differently")
	}
}

func TestDigestResultPinned(t *testing.T) {
	// echo -n '{"columns":["id","v"],"rows":[[1,"x"],[2,null]]}' | sha256sum
	got := DigestResult([]string{"id", "v"}, [][]any{{1, "x"}, {2, nil}})
	const want = "46c453c3890478814f5bfe11f7ada9a9e35e372a60011a515cbd1cbdd3c839bc"
	if got != want {
		t.Errorf("DigestResult = %s, want %s", got, want)
	}
}

func TestCapRows(t *testing.T) {
	rows := [][]any{{1, "aaaa"}, {2, "bbbb"}, {3, "cccc"}}
	all, cut := CapRows(rows, 1000)
	if cut || string(all) != `[[1,"aaaa"],[2,"bbbb"],[3,"cccc"]]` {
		t.Errorf("CapRows = %s, %v", all, cut)
	}
	two, cut := CapRows(rows, len(`[[1,"aaaa"],[2,"bbbb"]]`))
	if !cut || string(two) != `[[1,"aaaa"],[2,"bbbb"]]` {
		t.Errorf("CapRows at two rows = %s, %v", two, cut)
	}
	none, cut := CapRows(rows, 5)
	if !cut || string(none) != `[]` {
		t.Errorf("CapRows(5) = %s, %v", none, cut)
	}
	empty, cut := CapRows(nil, 10)
	if cut || string(empty) != `[]` {
		t.Errorf("CapRows(nil) = %s, %v", empty, cut)
	}
	if !json.Valid(two) || !json.Valid(none) {
		t.Error("capped rows are not JSON")
	}
	times, _ := CapRows([][]any{{goldenTime.In(time.FixedZone("X", 7200)), math.Inf(1)}}, 0)
	if string(times) != `[["2025-03-14T15:09:26.535897Z","Infinity"]]` {
		t.Errorf("normalized row = %s", times)
	}
}

func TestCapMeta(t *testing.T) {
	tests := []struct {
		name, in string
		max      int
		want     string
	}{
		{"fits, compacted", `{ "traceparent": "00-1", "n": [1, 2] }`, 100, `{"traceparent":"00-1","n":[1,2]}`},
		{"empty", ``, 100, ``},
		{"null", ` null `, 100, ``},
		{"invalid", `{"a":`, 100, `{"_invalid":true,"_bytes":5}`},
		{"object cut, small members kept in order", `{"trace":"t1","prompt":"` + strings.Repeat("x", 200) + `","span":"s2"}`, 80,
			`{"trace":"t1","span":"s2","_truncated":true}`},
		{"array too big", `[` + strings.Repeat(`1,`, 100) + `1]`, 50, `{"_truncated":true,"_bytes":203}`},
		{"tiny cap", `{"trace":"` + strings.Repeat("x", 50) + `"}`, 20, `{"_truncated":true}`},
		{"html kept verbatim", `{"p":"<b>&"}`, 100, `{"p":"<b>&"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := CapMeta(json.RawMessage(tt.in), tt.max)
			if string(got) != tt.want {
				t.Errorf("CapMeta = %s, want %s", got, tt.want)
			}
			if got != nil && (!json.Valid(got) || len(got) > max(tt.max, len(`{"_truncated":true}`))) {
				t.Errorf("CapMeta = %s: invalid or over %d bytes", got, tt.max)
			}
		})
	}
}
