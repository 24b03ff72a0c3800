package sqlscope

import (
	"strings"

	"github.com/keyholehq/keyhole/grants"
)

// Explain renders an analysis for people, one fact per line.
func Explain(a *Analysis) string {
	if a == nil {
		return ""
	}
	var b strings.Builder
	line := func(label string, items []string) {
		b.WriteString(label)
		if len(items) == 0 {
			b.WriteString(" (none)\n")
			return
		}
		b.WriteString(" ")
		b.WriteString(strings.Join(items, ", "))
		b.WriteString("\n")
	}
	b.WriteString("statement: " + a.Kind + "\n")
	line("reads:", tableNames(a.Reads))
	line("writes:", tableNames(a.Writes))
	line("columns:", a.Columns)
	line("functions:", a.Functions)
	b.WriteString("fingerprint: " + a.Fingerprint + "\n")
	return b.String()
}

func tableNames(ts []grants.Table) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.String()
	}
	return out
}
