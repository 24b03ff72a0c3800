package config

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Problem is one finding about a config file, located by file and line.
// Warnings do not stop keyhole from starting; errors do.
type Problem struct {
	File    string
	Line    int // 1-based; 0 when the problem concerns the file as a whole
	Msg     string
	Warning bool
}

// String renders the problem as FILE:LINE: message, or
// FILE:LINE: warning: message for a warning.
func (p Problem) String() string {
	var b strings.Builder
	switch {
	case p.File != "" && p.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", p.File, p.Line)
	case p.File != "":
		b.WriteString(p.File + ": ")
	case p.Line > 0:
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Warning {
		b.WriteString("warning: ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Problems is the error Load and Parse return for an invalid file: every
// problem found (warnings included), sorted by line, one per line of text.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// As lets errors.As fill a Problems value as well as a *Problems.
func (ps *Problems) As(target any) bool {
	if t, ok := target.(*Problems); ok {
		*t = *ps
		return true
	}
	return false
}

// HasErrors reports whether any problem is an error rather than a warning.
func HasErrors(ps []Problem) bool {
	return slices.ContainsFunc(ps, func(p Problem) bool { return !p.Warning })
}

// sortProblems orders problems by file and line, keeping the order in which
// they were found for problems on the same line.
func sortProblems(ps []Problem) {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line))
	})
}
