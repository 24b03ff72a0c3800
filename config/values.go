package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/keyholehq/keyhole/grants"
	"gopkg.in/yaml.v3"
)

// integer reads a decimal integer no smaller than lo.
func (d *decoder) integer(where string, n *yaml.Node, lo int) (int, bool) {
	s, ok := d.scalar(where, n)
	if !ok {
		return 0, false
	}
	v, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		d.errorf(n.Line, where, "want a whole number, not %q", s)
		return 0, false
	}
	if v < lo {
		d.errorf(n.Line, where, "must be at least %d", lo)
		return 0, false
	}
	return v, true
}

// size reads a byte count: 1000000, 1MB, 512KiB, 1MiB.
func (d *decoder) size(where string, n *yaml.Node, lo int64) (int64, bool) {
	s, ok := d.scalar(where, n)
	if !ok {
		return 0, false
	}
	v, err := parseSize(s)
	if err != nil {
		d.errorf(n.Line, where, "%v", err)
		return 0, false
	}
	if v < lo {
		d.errorf(n.Line, where, "must be at least %d bytes", lo)
		return 0, false
	}
	return v, true
}

var sizeUnits = map[string]int64{
	"": 1, "B": 1,
	"kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9,
	"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30,
}

// parseSize parses a whole number of bytes with an optional unit: B, kB/KB,
// MB, GB (powers of 1000) or KiB, MiB, GiB (powers of 1024).
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	unit := strings.TrimSpace(s[i:])
	mult, ok := sizeUnits[unit]
	if i == 0 || !ok {
		return 0, fmt.Errorf("want a size like 1000000, 512KiB, 1MiB or 1MB, not %q", s)
	}
	v, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil || v > math.MaxInt64/mult {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return v * mult, nil
}

// duration reads a Go duration (5s, 15m). It must be positive unless
// allowZero, and at most hi when hi > 0.
func (d *decoder) duration(where string, n *yaml.Node, allowZero bool, hi time.Duration) (time.Duration, bool) {
	s, ok := d.scalar(where, n)
	if !ok {
		return 0, false
	}
	v, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		d.errorf(n.Line, where, "want a duration like 5s, 15m or 1h30m, not %q", s)
		return 0, false
	}
	switch {
	case v < 0 || (v == 0 && !allowZero):
		d.errorf(n.Line, where, "must be greater than 0")
		return 0, false
	case hi > 0 && v > hi:
		d.errorf(n.Line, where, "must be at most %s", fmtDuration(hi))
		return 0, false
	}
	return v, true
}

// fmtDuration prints 24h rather than 24h0m0s.
func fmtDuration(d time.Duration) string {
	s := d.String()
	s = strings.TrimSuffix(s, "0s")
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func (d *decoder) boolean(where string, n *yaml.Node) (bool, bool) {
	s, ok := d.scalar(where, n)
	if !ok {
		return false, false
	}
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	d.errorf(n.Line, where, "want true or false, not %q", s)
	return false, false
}

// enum reads one of the allowed values.
func (d *decoder) enum(where string, n *yaml.Node, allowed ...string) (string, bool) {
	s, ok := d.scalar(where, n)
	if !ok {
		return "", false
	}
	for _, a := range allowed {
		if s == a {
			return s, true
		}
	}
	d.errorf(n.Line, where, "%q is not one of %s", s, strings.Join(allowed, ", "))
	return "", false
}

// parseIdent parses one SQL identifier the way grants.ParseTableScope does:
// unquoted names fold to lower case, "quoted" names are kept exactly.
func parseIdent(s string) (string, error) {
	ts, err := grants.ParseTableScope("x." + s)
	if err != nil || ts.Columns != nil {
		return "", fmt.Errorf("%q is not an SQL identifier", s)
	}
	return ts.Name, nil
}
