package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// Default caps, for callers whose configuration leaves them unset.
const (
	DefaultMaxResultBytes = 64 << 10
	DefaultMaxMetaBytes   = 4 << 10
)

// DigestResult returns the SHA-256, in lowercase hex, of the canonical
// encoding of a query result:
//
//	{"columns":[<names>],"rows":[[<values>],...]}
//
// as encoding/json writes it without HTML escaping and without whitespace,
// after normalizing each value (at any depth inside []any and
// map[string]any): time.Time in UTC, NaN and ±Inf floats as the strings
// "NaN", "Infinity" and "-Infinity", and any value encoding/json cannot
// encode as its fmt %v string. Nil columns or rows encode as []. The same
// result read twice, in any process time zone, digests the same.
func DigestResult(columns []string, rows [][]any) string {
	h := sha256.New()
	c := newCanon()
	h.Write([]byte(`{"columns":`))
	if columns == nil {
		columns = []string{}
	}
	h.Write(c.encode(columns))
	h.Write([]byte(`,"rows":[`))
	for i, row := range rows {
		if i > 0 {
			h.Write([]byte(","))
		}
		h.Write(c.row(row))
	}
	h.Write([]byte(`]}`))
	return hex.EncodeToString(h.Sum(nil))
}

// CapRows returns rows as a JSON array of arrays, in the encoding
// DigestResult uses, keeping whole rows from the first while the array fits
// in maxBytes (DefaultMaxResultBytes when maxBytes <= 0). The bool reports
// that rows were left out.
func CapRows(rows [][]any, maxBytes int) (json.RawMessage, bool) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxResultBytes
	}
	c := newCanon()
	out := []byte{'['}
	for i, row := range rows {
		b := c.row(row)
		need := len(b) + 1 // "]"
		if i > 0 {
			need++ // ","
		}
		if len(out)+need > maxBytes {
			return append(out, ']'), true
		}
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, b...)
	}
	return append(out, ']'), false
}

// CapMeta returns a request's _meta compacted, as it goes on the trail, cut
// to at most max bytes (DefaultMaxMetaBytes when max <= 0) so that a client
// cannot flood the trail. A cut object keeps its members in order while they
// fit, then "_truncated":true; anything else that does not fit becomes
// {"_truncated":true,"_bytes":<size>}. Invalid JSON becomes
// {"_invalid":true,"_bytes":<size>}; empty or null becomes nil.
func CapMeta(raw json.RawMessage, max int) json.RawMessage {
	if max <= 0 {
		max = DefaultMaxMetaBytes
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		return json.RawMessage(fmt.Sprintf(`{"_invalid":true,"_bytes":%d}`, len(raw)))
	}
	if compact.Len() <= max {
		return json.RawMessage(compact.Bytes())
	}
	const tail = `"_truncated":true}`
	fallback := json.RawMessage(fmt.Sprintf(`{"_truncated":true,"_bytes":%d}`, compact.Len()))
	if len(fallback) > max {
		fallback = json.RawMessage(`{` + tail)
	}
	dec := json.NewDecoder(&compact)
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return fallback
	}
	out := []byte{'{'}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fallback
		}
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return fallback
		}
		key, _ := json.Marshal(tok.(string))
		if len(out)+len(key)+1+len(val)+1+len(tail) <= max {
			out = append(out, key...)
			out = append(out, ':')
			out = append(out, val...)
			out = append(out, ',')
		}
	}
	out = append(out, tail...)
	if len(out) > max {
		return fallback
	}
	return json.RawMessage(out)
}

// canon encodes values the way DigestResult documents.
type canon struct {
	buf bytes.Buffer
	enc *json.Encoder
}

func newCanon() *canon {
	c := &canon{}
	c.enc = json.NewEncoder(&c.buf)
	c.enc.SetEscapeHTML(false)
	return c
}

// encode returns the JSON of v, valid until the next call.
func (c *canon) encode(v any) []byte {
	c.buf.Reset()
	if err := c.enc.Encode(normalize(v)); err != nil {
		c.buf.Reset()
		_ = c.enc.Encode(fmt.Sprintf("%v", v))
	}
	b := c.buf.Bytes()
	return b[:len(b)-1]
}

func (c *canon) row(row []any) []byte {
	if row == nil {
		row = []any{}
	}
	var out []byte
	out = append(out, '[')
	for i, v := range row {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, c.encode(v)...)
	}
	return append(out, ']')
}

func normalize(v any) any {
	switch x := v.(type) {
	case time.Time:
		return x.UTC()
	case *time.Time:
		if x == nil {
			return nil
		}
		return x.UTC()
	case float64:
		return finite(x, v)
	case float32:
		return finite(float64(x), v)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalize(e)
		}
		return out
	}
	return v
}

func finite(f float64, v any) any {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return v
}
