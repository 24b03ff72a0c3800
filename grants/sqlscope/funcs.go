package sqlscope

import (
	"math"
	"strconv"
	"strings"
	"time"

	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/keyholehq/keyhole/grants"
)

// Bounds on functions that can make PostgreSQL produce a lot from a little.
const (
	maxSeriesRows  = 1_000_000 // generate_series
	maxStringBytes = 1 << 20   // repeat, lpad, rpad
	maxFormatWidth = 10_000    // format('%Ns')
)

// boundedFunctions are the functions checkBounds caps.
var boundedFunctions = setOf(`generate_series repeat lpad rpad format`)

// funcCall checks a function call: the function must be allowed, and so
// must everything in its arguments, ordering, filter and window.
func (w *walker) funcCall(fc *pg_query.FuncCall, lv *level) *grants.Denial {
	name, d := w.function(fc.Funcname)
	if d != nil {
		return d
	}
	for _, a := range fc.Args {
		if a.GetNode() == nil {
			return grants.Deny(grants.CodeForbiddenStatement, "unexpected empty argument")
		}
		if d := w.expr(a, lv); d != nil {
			return d
		}
	}
	for _, o := range fc.AggOrder {
		sb, ok := o.GetNode().(*pg_query.Node_SortBy)
		if !ok {
			return unsupported(o)
		}
		if d := w.sortBy(sb.SortBy, lv, nil); d != nil {
			return d
		}
	}
	if d := w.expr(fc.AggFilter, lv); d != nil {
		return d
	}
	if fc.Over != nil {
		if d := w.windowDef(fc.Over, lv); d != nil {
			return d
		}
	}
	return checkBounds(name, fc.Args)
}

// function resolves a function name as PostgreSQL would and checks it
// against the allow-lists. It returns the name without its schema.
func (w *walker) function(names []*pg_query.Node) (string, *grants.Denial) {
	parts := make([]string, 0, len(names))
	for _, n := range names {
		s, ok := n.GetNode().(*pg_query.Node_String_)
		if !ok {
			return "", unsupported(n)
		}
		parts = append(parts, s.String_.Sval)
	}
	opts := &w.a.opts
	switch len(parts) {
	case 1:
		name := parts[0]
		if !w.a.builtin(name) {
			for _, s := range opts.SearchPath {
				if w.a.extra[s+"."+name] {
					return "", grants.Deny(grants.CodeForbiddenFunction, "function %s is allowed only as %s.%s(...); qualify the call", name, s, name)
				}
			}
			return "", deniedFunction(name)
		}
		if sh := opts.Shadowing; sh != nil && sh.Functions[name] {
			return "", grants.Deny(grants.CodeForbiddenFunction, "function %s is also defined in a schema on the search path, so PostgreSQL might pick that one; write pg_catalog.%s(...) to call the built-in", name, name)
		}
		w.funcs["pg_catalog."+name] = true
		return name, nil
	case 2:
		schema, name := parts[0], parts[1]
		if schema == "pg_catalog" && w.a.builtin(name) || w.a.extra[schema+"."+name] {
			w.funcs[schema+"."+name] = true
			return name, nil
		}
		return "", deniedFunction(schema + "." + name)
	}
	return "", deniedFunction(strings.Join(parts, "."))
}

func deniedFunction(name string) *grants.Denial {
	return grants.Deny(grants.CodeForbiddenFunction, "function %s is not on keyhole's allow-list of side-effect-free built-in functions; use another function, or ask an admin to allow it for this resource", name)
}

// checkBounds caps functions whose output size an argument chooses. Where the
// size cannot be known before the query runs, the call is refused.
func checkBounds(name string, args []*pg_query.Node) *grants.Denial {
	switch name {
	case "generate_series":
		return seriesBound(args)
	case "repeat":
		if len(args) != 2 {
			return nil
		}
		n, ok := boundedInt(args[1])
		if !ok {
			return grants.Deny(grants.CodeForbiddenFunction, "repeat needs a constant count (or least(count, N)); the result may be at most %d bytes", maxStringBytes)
		}
		if size := mulSat(max(n, 0), max(textBytes(args[0]), 1)); size > maxStringBytes {
			return grants.Deny(grants.CodeForbiddenFunction, "repeat would build about %d bytes; the limit is %d", size, maxStringBytes)
		}
	case "lpad", "rpad":
		if len(args) < 2 {
			return nil
		}
		n, ok := boundedInt(args[1])
		if !ok || n > maxStringBytes/4 {
			return grants.Deny(grants.CodeForbiddenFunction, "%s needs a constant length of at most %d (or least(length, N))", name, maxStringBytes/4)
		}
	case "format":
		if len(args) == 0 {
			return nil
		}
		f, ok := constString(args[0])
		if !ok {
			return grants.Deny(grants.CodeForbiddenFunction, "format needs a constant format string")
		}
		if d := formatWidths(f); d != nil {
			return d
		}
	}
	return nil
}

// textBytes estimates the size of a text argument: exact for a constant,
// the bound of a nested repeat, lpad or rpad (so that nesting them cannot
// multiply past their bounds), the sum of the two sides of ||, and 64 bytes
// for anything else. The last is a guess: a column value may be larger, and
// functions keyhole does not bound (replace, string_agg, || in a recursive
// query) can build values up to PostgreSQL's limit of 1 GB each, which only
// the database server's own memory limits contain.
func textBytes(n *pg_query.Node) int64 {
	switch v := n.GetNode().(type) {
	case *pg_query.Node_AConst:
		if s, ok := v.AConst.Val.(*pg_query.A_Const_Sval); ok {
			return int64(len(s.Sval.Sval))
		}
	case *pg_query.Node_TypeCast:
		return textBytes(v.TypeCast.Arg)
	case *pg_query.Node_AExpr:
		if op, ok := singleName(v.AExpr.Name); ok && op == "||" && v.AExpr.Lexpr != nil {
			return textBytes(v.AExpr.Lexpr) + textBytes(v.AExpr.Rexpr)
		}
	case *pg_query.Node_FuncCall:
		name, ok := catalogFunction(v.FuncCall.Funcname)
		args := v.FuncCall.Args
		if !ok || len(args) < 2 || (name != "repeat" && name != "lpad" && name != "rpad") {
			break
		}
		n, ok := boundedInt(args[1])
		if !ok {
			return maxStringBytes // refused where it stands
		}
		if name == "repeat" {
			return mulSat(max(n, 0), max(textBytes(args[0]), 1))
		}
		return mulSat(max(n, 0), 4) // characters of up to 4 bytes
	}
	return 64
}

// catalogFunction returns the name a call names if it calls a pg_catalog
// function: written unqualified (which function resolves to pg_catalog for
// every name it allows) or qualified with pg_catalog.
func catalogFunction(names []*pg_query.Node) (string, bool) {
	switch len(names) {
	case 1:
		return singleName(names)
	case 2:
		if schema, ok := singleName(names[:1]); !ok || schema != "pg_catalog" {
			return "", false
		}
		return singleName(names[1:])
	}
	return "", false
}

// mulSat multiplies non-negative a and b, saturating instead of overflowing.
func mulSat(a, b int64) int64 {
	if a > 0 && b > math.MaxInt64/a {
		return math.MaxInt64
	}
	return a * b
}

// seriesBound allows generate_series only where the row count is known
// before the query runs: constant numeric bounds, or constant dates and
// timestamps with a constant interval step.
func seriesBound(args []*pg_query.Node) *grants.Denial {
	refuse := grants.Deny(grants.CodeForbiddenFunction, "generate_series needs constant bounds and step producing at most %d rows (for example generate_series(1, 100) or generate_series('2024-01-01'::date, '2024-12-31', '1 day'))", maxSeriesRows)
	if len(args) < 2 || len(args) > 3 {
		return refuse
	}
	if start, ok := constNumber(args[0]); ok {
		stop, ok := constNumber(args[1])
		if !ok {
			return refuse
		}
		step := 1.0
		if len(args) == 3 {
			if step, ok = constNumber(args[2]); !ok || step == 0 {
				return refuse
			}
		}
		if rows := (stop-start)/step + 1; math.IsNaN(rows) || rows > maxSeriesRows {
			return refuse
		}
		return nil
	}
	if len(args) != 3 {
		return refuse
	}
	start, ok1 := constTime(args[0])
	stop, ok2 := constTime(args[1])
	step, ok3 := constInterval(args[2])
	if !ok1 || !ok2 || !ok3 || step <= 0 {
		return refuse
	}
	// In seconds: time.Time.Sub saturates at about 292 years, and dates
	// span ten thousand.
	span := float64(stop.Unix()-start.Unix()) + float64(stop.Nanosecond()-start.Nanosecond())/1e9
	if span > 0 && span/step.Seconds() > maxSeriesRows {
		return refuse
	}
	return nil
}

// boundedInt reports an upper bound of an integer argument: a constant, a
// constant cast, or least(...) with a constant among its arguments.
func boundedInt(n *pg_query.Node) (int64, bool) {
	switch v := n.GetNode().(type) {
	case *pg_query.Node_AConst:
		if iv, ok := v.AConst.Val.(*pg_query.A_Const_Ival); ok {
			return int64(iv.Ival.Ival), true
		}
		if fv, ok := v.AConst.Val.(*pg_query.A_Const_Fval); ok {
			f, err := strconv.ParseFloat(fv.Fval.Fval, 64)
			return int64(f), err == nil
		}
		if sv, ok := v.AConst.Val.(*pg_query.A_Const_Sval); ok {
			i, err := strconv.ParseInt(strings.TrimSpace(sv.Sval.Sval), 10, 64)
			return i, err == nil
		}
	case *pg_query.Node_TypeCast:
		return boundedInt(v.TypeCast.Arg)
	case *pg_query.Node_AExpr:
		if f, ok := constNumber(n); ok && f < 0 {
			return 0, true
		}
	case *pg_query.Node_MinMaxExpr:
		least := v.MinMaxExpr.Op == pg_query.MinMaxOp_IS_LEAST
		found := false
		var best int64
		for _, a := range v.MinMaxExpr.Args {
			b, ok := boundedInt(a)
			switch {
			case ok && !found:
				best, found = b, true
			case ok && least:
				best = min(best, b)
			case ok:
				best = max(best, b)
			case !least:
				return 0, false
			}
		}
		return best, found
	}
	return 0, false
}

// constNumber evaluates a numeric constant, possibly negated or cast.
func constNumber(n *pg_query.Node) (float64, bool) {
	switch v := n.GetNode().(type) {
	case *pg_query.Node_AConst:
		switch c := v.AConst.Val.(type) {
		case *pg_query.A_Const_Ival:
			return float64(c.Ival.Ival), true
		case *pg_query.A_Const_Fval:
			f, err := strconv.ParseFloat(c.Fval.Fval, 64)
			return f, err == nil
		}
	case *pg_query.Node_TypeCast:
		return constNumber(v.TypeCast.Arg)
	case *pg_query.Node_AExpr:
		e := v.AExpr
		if e.Kind == pg_query.A_Expr_Kind_AEXPR_OP && e.Lexpr == nil {
			if op, ok := singleName(e.Name); ok && (op == "-" || op == "+") {
				f, ok := constNumber(e.Rexpr)
				if op == "-" {
					f = -f
				}
				return f, ok
			}
		}
	}
	return 0, false
}

func constString(n *pg_query.Node) (string, bool) {
	switch v := n.GetNode().(type) {
	case *pg_query.Node_AConst:
		if s, ok := v.AConst.Val.(*pg_query.A_Const_Sval); ok {
			return s.Sval.Sval, true
		}
	case *pg_query.Node_TypeCast:
		return constString(v.TypeCast.Arg)
	}
	return "", false
}

var timeLayouts = []string{
	"2006-01-02", "2006-01-02 15:04", "2006-01-02 15:04:05", "2006-01-02T15:04:05",
	"2006-01-02 15:04:05Z07", "2006-01-02 15:04:05Z07:00", "2006-01-02T15:04:05Z07:00",
	"2006-01-02 15:04:05.999999", "2006-01-02 15:04:05.999999Z07",
}

func constTime(n *pg_query.Node) (time.Time, bool) {
	s, ok := constString(n)
	if !ok {
		return time.Time{}, false
	}
	s = strings.TrimSpace(s)
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// constInterval reads a constant interval such as '1 day' or '15 minutes'
// as a lower bound of its length.
func constInterval(n *pg_query.Node) (time.Duration, bool) {
	s, ok := constString(n)
	if !ok {
		return 0, false
	}
	f := strings.Fields(strings.ToLower(s))
	if len(f) == 1 {
		f = []string{"1", f[0]}
	}
	if len(f) != 2 {
		return 0, false
	}
	q, err := strconv.ParseFloat(f[0], 64)
	if err != nil || q <= 0 {
		return 0, false
	}
	unit := strings.TrimSuffix(f[1], "s")
	var d time.Duration
	switch unit {
	case "microsecond", "us", "usec":
		d = time.Microsecond
	case "millisecond", "ms", "msec":
		d = time.Millisecond
	case "second", "sec":
		d = time.Second
	case "minute", "min":
		d = time.Minute
	case "hour", "hr", "h":
		d = time.Hour
	case "day", "d":
		d = 24 * time.Hour
	case "week", "w":
		d = 7 * 24 * time.Hour
	case "month", "mon":
		d = 28 * 24 * time.Hour
	case "year", "yr", "y":
		d = 365 * 24 * time.Hour
	default:
		return 0, false
	}
	return time.Duration(q * float64(d)), true
}

// formatWidths refuses format() specifications whose width comes from an
// argument (*) or exceeds maxFormatWidth.
func formatWidths(f string) *grants.Denial {
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			continue
		}
		i++
		if i < len(f) && f[i] == '%' {
			continue
		}
		// optional argument position n$, flags, width
		j := i
		for j < len(f) && f[j] >= '0' && f[j] <= '9' {
			j++
		}
		if j < len(f) && f[j] == '$' {
			i = j + 1
		}
		for i < len(f) && f[i] == '-' {
			i++
		}
		if i < len(f) && f[i] == '*' {
			return grants.Deny(grants.CodeForbiddenFunction, "format widths taken from arguments (%%*s) are not allowed; write a constant width")
		}
		j = i
		for j < len(f) && f[j] >= '0' && f[j] <= '9' {
			j++
		}
		if j > i {
			wd, err := strconv.Atoi(f[i:j])
			if err != nil || wd > maxFormatWidth {
				return grants.Deny(grants.CodeForbiddenFunction, "format width %s exceeds %d", f[i:j], maxFormatWidth)
			}
		}
		i = j
	}
	return nil
}
