package sqlscope

import (
	"unicode/utf8"

	"github.com/keyholehq/keyhole/grants"
)

// checkText refuses text the parser must never see: too long, not valid
// UTF-8, carrying control characters, or nested deeper than maxDepth.
func checkText(sql string, maxBytes, maxDepth int) *grants.Denial {
	if len(sql) > maxBytes {
		return grants.Deny(grants.CodeInvalidArgument, "SQL text is %d bytes; the limit is %d bytes", len(sql), maxBytes)
	}
	if !utf8.ValidString(sql) {
		return grants.Deny(grants.CodeInvalidArgument, "SQL text is not valid UTF-8")
	}
	depth := 0
	for i, r := range sql {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
		case r < 0x20 || (r >= 0x7f && r < 0xa0):
			return grants.Deny(grants.CodeInvalidArgument, "SQL text contains control character U+%04X at byte %d; remove it", r, i)
		case r == '(' || r == '[':
			depth++
			if depth > maxDepth {
				return grants.Deny(grants.CodeInvalidArgument, "SQL text nests deeper than %d levels; simplify it", maxDepth)
			}
		case r == ')' || r == ']':
			depth--
		}
	}
	return nil
}
