package sqlscope

import (
	"unicode/utf8"

	"github.com/keyholehq/keyhole/grants"
)

// MaxTokens bounds the words, operator characters and opening brackets a
// statement may contain, counted over the raw text (string literals and
// comments included, so no lexing mistake can hide any).
//
// Why: pg_query serialises its parse tree recursively in C, on the calling
// thread's stack, without a depth check. A left-deep chain such as
// SELECT 1+1+1+... or a JOIN b ON true JOIN c ON true ... builds a tree as
// deep as it is long, and parentheses are not needed for that, so counting
// parentheses is not enough. Measured with pg_query_go v5.1.0 under a 1 MiB
// thread stack, the costliest shapes use at most about 512 bytes of C stack
// per counted token (nested scalar subqueries, SELECT (SELECT (...))); +, ::,
// IS NULL, NOT and JOIN chains use about 350. A statement within MaxTokens
// therefore needs at most about 2 MiB of stack, a quarter of the usual 8 MiB
// thread stack (the RLIMIT_STACK default that Go's threads inherit); at
// 25,000 levels pg_query overflows an 8 MiB stack and takes the process
// down. Run keyhole with a stack limit of at least 4 MiB.
const MaxTokens = 4096

// checkText refuses text the parser must never see: too long, not valid
// UTF-8, carrying control characters, nested deeper than maxDepth brackets,
// or holding more than MaxTokens words, operator characters and brackets.
func checkText(sql string, maxBytes, maxDepth int) *grants.Denial {
	if len(sql) > maxBytes {
		return grants.Deny(grants.CodeInvalidArgument, "SQL text is %d bytes; the limit is %d bytes", len(sql), maxBytes)
	}
	if !utf8.ValidString(sql) {
		return grants.Deny(grants.CodeInvalidArgument, "SQL text is not valid UTF-8")
	}
	depth, tokens := 0, 0
	inWord := false
	for i, r := range sql {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			return grants.Deny(grants.CodeInvalidArgument, "SQL text contains control character U+%04X at byte %d; remove it", r, i)
		case r == 0x200e || r == 0x200f || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069):
			// Bidirectional controls make the text read differently to a
			// person reviewing the audit trail than to the parser.
			return grants.Deny(grants.CodeInvalidArgument, "SQL text contains bidirectional control character U+%04X at byte %d; remove it", r, i)
		}
		word := r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || r >= 0x80
		switch {
		case word || (inWord && (r == '$' || (r >= '0' && r <= '9'))):
			if !inWord {
				tokens++
			}
			inWord = true
		case isOpChar(r):
			// Every operator character counts on its own: PostgreSQL's
			// lexer splits a run such as +-+-+- (an operator may not end
			// in + or - unless it holds one of ~!@#%^&|`?) or ~/**/~ (a
			// comment ends an operator) into one prefix operator per
			// character, each a level of the tree.
			tokens++
			inWord = false
		default:
			inWord = false
			switch r {
			case '(', '[':
				tokens++
				depth++
				if depth > maxDepth {
					return grants.Deny(grants.CodeInvalidArgument, "SQL text nests brackets deeper than %d levels; simplify it", maxDepth)
				}
			case ')', ']':
				depth = max(depth-1, 0)
			}
		}
		if tokens > MaxTokens {
			return grants.Deny(grants.CodeInvalidArgument, "the statement is too complex: more than %d words and operator characters; split it into smaller queries", MaxTokens)
		}
	}
	return nil
}

func isOpChar(r rune) bool {
	switch r {
	case '+', '-', '*', '/', '<', '>', '=', '~', '!', '@', '#', '%', '^', '&', '|', '`', '?', ':':
		return true
	}
	return false
}
