package audit

import (
	"log/slog"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Format renders e on one line for a person reading `keyhole audit tail`:
// seq, time, event, then agent, short session, grant, code, the SQL's
// fingerprint and its start, and the row count, each only when present.
func Format(e *Event) string {
	var b strings.Builder
	b.WriteString(strconv.FormatUint(e.Seq, 10))
	b.WriteByte(' ')
	b.WriteString(e.Time.UTC().Format("2006-01-02T15:04:05.000Z"))
	b.WriteByte(' ')
	b.WriteString(e.Event)
	for n := len(e.Event); n < 16; n++ {
		b.WriteByte(' ')
	}
	kv := func(k, v string) {
		if v != "" {
			b.WriteByte(' ')
			b.WriteString(k)
			b.WriteByte('=')
			b.WriteString(quoteIfNeeded(v))
		}
	}
	if c := e.Checkpoint; c != nil {
		kv("covers", strconv.FormatUint(c.Seq, 10))
		kv("head", short(c.Head, 16))
		kv("kid", short(c.KeyID, 12))
		return b.String()
	}
	kv("agent", e.Agent)
	kv("session", SessionShort(e.Session))
	kv("grant", e.Grant)
	kv("request", e.Request)
	if e.Privilege != "" || len(e.Tables) > 0 {
		kv("resource", e.Resource)
		kv("privilege", e.Privilege)
		kv("tables", strings.Join(e.Tables, ","))
	}
	kv("decision", e.Decision)
	kv("code", e.Code)
	if q := e.Query; q != nil {
		kv("fp", q.Fingerprint)
		kv("sql", short(collapse(q.SQL), 80))
	}
	if r := e.Result; r != nil {
		kv("rows", strconv.Itoa(r.Rows))
		kv("ms", strconv.FormatFloat(r.ElapsedMS, 'f', -1, 64))
		kv("sqlstate", r.SQLState)
	}
	if e.Code != "" {
		kv("reason", short(collapse(e.Reason), 80))
	}
	return b.String()
}

// LogValue renders an event in operational logs as the same small, safe
// group everywhere: no SQL text, parameters, prompt context or results.
func (e Event) LogValue() slog.Value {
	attrs := []slog.Attr{slog.Uint64("seq", e.Seq), slog.String("event", e.Event)}
	add := func(k, v string) {
		if v != "" {
			attrs = append(attrs, slog.String(k, v))
		}
	}
	add("session", e.Session)
	add("agent", e.Agent)
	add("grant", e.Grant)
	add("code", e.Code)
	if e.Query != nil {
		add("fingerprint", e.Query.Fingerprint)
	}
	return slog.GroupValue(attrs...)
}

func collapse(s string) string { return strings.Join(strings.Fields(s), " ") }

// short cuts s to n runes, marking the cut.
func short(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func quoteIfNeeded(s string) string {
	if strings.ContainsAny(s, " \"=\t") || s == "" {
		return strconv.Quote(s)
	}
	return s
}
