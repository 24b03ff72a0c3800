package sqlscope

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/keyholehq/keyhole/grants"
)

// maxWalkDepth guards the walker's own recursion. The input budget in
// checkText already keeps trees far shallower; this is a second fence.
const maxWalkDepth = 10000

// walker checks one statement against one scope. It is used once and
// discarded. Every node kind it does not handle explicitly is refused.
type walker struct {
	scope grants.Scope
	a     *Analyzer

	depth   int
	reads   map[grants.Table]bool
	writes  map[grants.Table]bool
	columns map[string]bool
	funcs   map[string]bool
}

// source is one leaf of a FROM clause whose columns a reference may reach: a
// base relation in scope, or a derived table (subquery, CTE, VALUES,
// function) whose own contents were checked where they were defined.
type source struct {
	table grants.Table
	ts    *grants.TableScope // base relations only
	// known holds a base relation's user columns when the catalog is known;
	// nil when it is not.
	known map[string]bool
	// Derived tables: cols are output names known for certain; open means
	// there may be others.
	cols map[string]bool
	open bool
	// fn marks a function in FROM, whose whole row may be a scalar (the
	// function's single output), not a row.
	fn bool
}

func (s *source) base() bool       { return s.ts != nil }
func (s *source) restricted() bool { return s.ts != nil && s.ts.Columns != nil }

// has reports whether a base relation has column c: yes, no, or unknown.
func (s *source) has(c string) (has, known bool) {
	if s.known == nil {
		return false, false
	}
	return s.known[c] || slices.Contains(systemColumns, c), true
}

// allGranted reports whether a column-scoped relation's grant covers every
// column the catalog lists, so that * is safe.
func (s *source) allGranted() bool {
	if s.known == nil {
		return false
	}
	for c := range s.known {
		if !s.ts.AllowsColumn(c) {
			return false
		}
	}
	return true
}

// item is one entry of a query level's namespace, as PostgreSQL keeps it:
// what a qualified reference may name (refname) and whose columns an
// unqualified reference may reach (colsVisible).
type item struct {
	refname     string
	schema      string // un-aliased base relation: matches schema.table.column
	relname     string
	relVisible  bool
	colsVisible bool
	srcs        []*source
}

func (it *item) restrictedSource() *source {
	for _, s := range it.srcs {
		if s.restricted() {
			return s
		}
	}
	return nil
}

// level is one query level: its common table expressions and its FROM
// namespace. Levels chain outward through parent, as PostgreSQL's parse
// states do.
type level struct {
	parent *level
	ctes   []*cte
	items  []*item
}

type cte struct {
	name string
	src  *source
}

// hidden returns a level that shares lv's CTEs but none of its FROM items:
// what a non-LATERAL subquery in FROM sees of the query around it.
func (lv *level) hidden() *level {
	return &level{parent: lv.parent, ctes: lv.ctes}
}

// with returns a level that shares lv's CTEs and parent but whose namespace
// is exactly items.
func (lv *level) with(items []*item) *level {
	return &level{parent: lv.parent, ctes: lv.ctes, items: items}
}

func (lv *level) lookupCTE(name string) *cte {
	for l := lv; l != nil; l = l.parent {
		for i := len(l.ctes) - 1; i >= 0; i-- {
			if l.ctes[i].name == name {
				return l.ctes[i]
			}
		}
	}
	return nil
}

func newWalker(a *Analyzer, scope grants.Scope) *walker {
	return &walker{
		scope:   scope,
		a:       a,
		reads:   map[grants.Table]bool{},
		writes:  map[grants.Table]bool{},
		columns: map[string]bool{},
		funcs:   map[string]bool{},
	}
}

// statement checks the one top-level statement and returns the analysis.
func (w *walker) statement(n *pg_query.Node) (*Analysis, *grants.Denial) {
	root := &level{}
	var kind string
	var d *grants.Denial
	switch v := n.GetNode().(type) {
	case *pg_query.Node_SelectStmt:
		kind = "select"
		_, d = w.selectStmt(v.SelectStmt, root)
	case *pg_query.Node_InsertStmt:
		kind = "insert"
		_, d = w.insertStmt(v.InsertStmt, root)
	case *pg_query.Node_UpdateStmt:
		kind = "update"
		_, d = w.updateStmt(v.UpdateStmt, root)
	case *pg_query.Node_DeleteStmt:
		kind = "delete"
		_, d = w.deleteStmt(v.DeleteStmt, root)
	case *pg_query.Node_MergeStmt:
		kind = "merge"
		d = w.mergeStmt(v.MergeStmt, root)
	default:
		return nil, forbiddenStatement(n)
	}
	if d != nil {
		return nil, d
	}
	return w.analysis(kind), nil
}

func (w *walker) analysis(kind string) *Analysis {
	an := &Analysis{Kind: kind}
	an.Reads = sortedTables(w.reads)
	an.Writes = sortedTables(w.writes)
	an.Columns = sortedKeys(w.columns)
	an.Functions = sortedKeys(w.funcs)
	return an
}

func sortedTables(m map[grants.Table]bool) []grants.Table {
	if len(m) == 0 {
		return nil
	}
	out := make([]grants.Table, 0, len(m))
	for t := range m {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Schema != out[j].Schema {
			return out[i].Schema < out[j].Schema
		}
		return out[i].Name < out[j].Name
	})
	return out
}

func sortedKeys(m map[string]bool) []string {
	if len(m) == 0 {
		return nil
	}
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (w *walker) enter() *grants.Denial {
	w.depth++
	if w.depth > maxWalkDepth {
		return grants.Deny(grants.CodeInvalidArgument, "the statement nests too deeply; simplify it")
	}
	return nil
}

func (w *walker) leave() { w.depth-- }

// selectStmt checks a SELECT, VALUES or set operation as a new query level
// below parent and returns its output columns as a derived source.
func (w *walker) selectStmt(s *pg_query.SelectStmt, parent *level) (*source, *grants.Denial) {
	if s == nil {
		return nil, grants.Deny(grants.CodeParseError, "empty query")
	}
	if d := w.enter(); d != nil {
		return nil, d
	}
	defer w.leave()
	if s.IntoClause != nil {
		return nil, grants.Deny(grants.CodeForbiddenStatement, "SELECT ... INTO creates a table and is not allowed; drop the INTO clause")
	}
	if len(s.LockingClause) > 0 {
		return nil, grants.Deny(grants.CodeForbiddenStatement, "FOR UPDATE/FOR SHARE locks rows and is not allowed; drop the locking clause")
	}
	lv := &level{parent: parent}
	if d := w.withClause(s.WithClause, lv); d != nil {
		return nil, d
	}
	if s.Op != pg_query.SetOperation_SETOP_NONE {
		if s.Op != pg_query.SetOperation_SETOP_UNION && s.Op != pg_query.SetOperation_SETOP_INTERSECT && s.Op != pg_query.SetOperation_SETOP_EXCEPT {
			return nil, grants.Deny(grants.CodeForbiddenStatement, "unknown set operation")
		}
		if len(s.TargetList) > 0 || len(s.FromClause) > 0 || s.WhereClause != nil || len(s.GroupClause) > 0 ||
			s.HavingClause != nil || len(s.WindowClause) > 0 || len(s.DistinctClause) > 0 || len(s.ValuesLists) > 0 {
			return nil, grants.Deny(grants.CodeForbiddenStatement, "unexpected clause on a set operation")
		}
		out, d := w.selectStmt(s.Larg, lv)
		if d != nil {
			return nil, d
		}
		if _, d := w.selectStmt(s.Rarg, lv); d != nil {
			return nil, d
		}
		return out, w.sortAndLimit(s, lv.with([]*item{{colsVisible: true, srcs: []*source{out}}}), lv, nil)
	}
	if s.Larg != nil || s.Rarg != nil {
		return nil, grants.Deny(grants.CodeForbiddenStatement, "unexpected set operation arm")
	}
	if len(s.ValuesLists) > 0 {
		if len(s.TargetList) > 0 || len(s.FromClause) > 0 || s.WhereClause != nil || len(s.GroupClause) > 0 ||
			s.HavingClause != nil || len(s.WindowClause) > 0 || len(s.DistinctClause) > 0 {
			return nil, grants.Deny(grants.CodeForbiddenStatement, "unexpected clause on VALUES")
		}
		width := 0
		for _, row := range s.ValuesLists {
			l, ok := row.GetNode().(*pg_query.Node_List)
			if !ok {
				return nil, unsupported(row)
			}
			width = max(width, len(l.List.Items))
			for _, e := range l.List.Items {
				if d := w.expr(e, lv); d != nil {
					return nil, d
				}
			}
		}
		out := &source{cols: map[string]bool{}}
		for i := 1; i <= width; i++ {
			out.cols[fmt.Sprintf("column%d", i)] = true
		}
		return out, w.sortAndLimit(s, lv.with([]*item{{colsVisible: true, srcs: []*source{out}}}), lv, nil)
	}

	for _, f := range s.FromClause {
		items, d := w.fromItem(f, lv, lv)
		if d != nil {
			return nil, d
		}
		lv.items = append(lv.items, items...)
	}
	out := &source{cols: map[string]bool{}}
	outputs := map[string]bool{}
	for _, t := range s.TargetList {
		rt, ok := t.GetNode().(*pg_query.Node_ResTarget)
		if !ok {
			return nil, unsupported(t)
		}
		if len(rt.ResTarget.Indirection) > 0 {
			return nil, grants.Deny(grants.CodeForbiddenStatement, "unexpected indirection in the select list")
		}
		if d := w.expr(rt.ResTarget.Val, lv); d != nil {
			return nil, d
		}
		if name, ok := outputName(rt.ResTarget); ok {
			out.cols[name] = true
			outputs[name] = true
		} else {
			out.open = true
		}
	}
	if d := w.expr(s.WhereClause, lv); d != nil {
		return nil, d
	}
	for _, g := range s.GroupClause {
		if d := w.groupItem(g, lv, outputs); d != nil {
			return nil, d
		}
	}
	if d := w.expr(s.HavingClause, lv); d != nil {
		return nil, d
	}
	for _, wd := range s.WindowClause {
		def, ok := wd.GetNode().(*pg_query.Node_WindowDef)
		if !ok {
			return nil, unsupported(wd)
		}
		if d := w.windowDef(def.WindowDef, lv); d != nil {
			return nil, d
		}
	}
	if len(s.DistinctClause) == 1 && s.DistinctClause[0].GetNode() == nil {
		// plain DISTINCT
	} else {
		for _, e := range s.DistinctClause {
			if d := w.outputOrExpr(e, lv, outputs); d != nil {
				return nil, d
			}
		}
	}
	return out, w.sortAndLimit(s, lv, lv, outputs)
}

// sortAndLimit checks ORDER BY (resolved in sortLv, where bare names that
// match outputs refer to the select list) and LIMIT/OFFSET (in lv).
func (w *walker) sortAndLimit(s *pg_query.SelectStmt, sortLv, lv *level, outputs map[string]bool) *grants.Denial {
	for _, n := range s.SortClause {
		sb, ok := n.GetNode().(*pg_query.Node_SortBy)
		if !ok {
			return unsupported(n)
		}
		if d := w.sortBy(sb.SortBy, sortLv, outputs); d != nil {
			return d
		}
	}
	if d := w.expr(s.LimitCount, lv); d != nil {
		return d
	}
	return w.expr(s.LimitOffset, lv)
}

func (w *walker) sortBy(sb *pg_query.SortBy, lv *level, outputs map[string]bool) *grants.Denial {
	if len(sb.UseOp) > 0 {
		if d := w.operator(sb.UseOp); d != nil {
			return d
		}
	}
	return w.outputOrExpr(sb.Node, lv, outputs)
}

// outputOrExpr checks an ORDER BY or DISTINCT ON item: a bare name that
// matches an output column refers to that column (PostgreSQL prefers the
// output name there); anything else is an expression over the FROM clause.
func (w *walker) outputOrExpr(n *pg_query.Node, lv *level, outputs map[string]bool) *grants.Denial {
	if name, ok := bareName(n); ok && outputs[name] {
		return nil
	}
	return w.expr(n, lv)
}

// groupItem checks a GROUP BY item. PostgreSQL resolves a bare name against
// the query's own FROM columns first, then the output names, then outer
// queries.
func (w *walker) groupItem(n *pg_query.Node, lv *level, outputs map[string]bool) *grants.Denial {
	if gs, ok := n.GetNode().(*pg_query.Node_GroupingSet); ok {
		for _, c := range gs.GroupingSet.Content {
			if d := w.groupItem(c, lv, outputs); d != nil {
				return d
			}
		}
		return nil
	}
	if l, ok := n.GetNode().(*pg_query.Node_List); ok {
		for _, c := range l.List.Items {
			if d := w.groupItem(c, lv, outputs); d != nil {
				return d
			}
		}
		return nil
	}
	if name, ok := bareName(n); ok && outputs[name] {
		if _, d := w.resolveInLevel(name, lv); d != nil {
			if d.Code == grants.CodeOutOfScope {
				d.Message = fmt.Sprintf("GROUP BY %s: PostgreSQL groups by a FROM column named %s before the select-list alias, and a column-scoped table of this query might have one that is not granted; write GROUP BY with the column's position (GROUP BY 1) or repeat the expression", name, name)
			}
			return d
		}
		return nil
	}
	return w.expr(n, lv)
}

func (w *walker) windowDef(wd *pg_query.WindowDef, lv *level) *grants.Denial {
	for _, p := range wd.PartitionClause {
		if d := w.expr(p, lv); d != nil {
			return d
		}
	}
	for _, o := range wd.OrderClause {
		sb, ok := o.GetNode().(*pg_query.Node_SortBy)
		if !ok {
			return unsupported(o)
		}
		if d := w.sortBy(sb.SortBy, lv, nil); d != nil {
			return d
		}
	}
	if d := w.expr(wd.StartOffset, lv); d != nil {
		return d
	}
	return w.expr(wd.EndOffset, lv)
}

// withClause checks the common table expressions of lv's query and makes
// them visible in lv. Without RECURSIVE each CTE sees only the ones before
// it; with RECURSIVE every CTE of the list sees all of them.
func (w *walker) withClause(wc *pg_query.WithClause, lv *level) *grants.Denial {
	if wc == nil {
		return nil
	}
	defs := make([]*pg_query.CommonTableExpr, 0, len(wc.Ctes))
	for _, n := range wc.Ctes {
		c, ok := n.GetNode().(*pg_query.Node_CommonTableExpr)
		if !ok {
			return unsupported(n)
		}
		if c.CommonTableExpr.SearchClause != nil || c.CommonTableExpr.CycleClause != nil {
			return grants.Deny(grants.CodeForbiddenStatement, "SEARCH and CYCLE clauses of WITH RECURSIVE are not supported; track depth or visited rows with ordinary columns instead")
		}
		defs = append(defs, c.CommonTableExpr)
	}
	if wc.Recursive {
		for _, c := range defs {
			lv.ctes = append(lv.ctes, &cte{name: c.Ctename, src: &source{cols: aliasNames(c.Aliascolnames), open: true}})
		}
		for i, c := range defs {
			out, d := w.cteQuery(c, lv)
			if d != nil {
				return d
			}
			lv.ctes[len(lv.ctes)-len(defs)+i].src = cteSource(c, out)
		}
		return nil
	}
	for _, c := range defs {
		out, d := w.cteQuery(c, lv)
		if d != nil {
			return d
		}
		lv.ctes = append(lv.ctes, &cte{name: c.Ctename, src: cteSource(c, out)})
	}
	return nil
}

func cteSource(c *pg_query.CommonTableExpr, out *source) *source {
	if len(c.Aliascolnames) == 0 {
		return out
	}
	return &source{cols: aliasNames(c.Aliascolnames), open: true}
}

func (w *walker) cteQuery(c *pg_query.CommonTableExpr, lv *level) (*source, *grants.Denial) {
	switch q := c.Ctequery.GetNode().(type) {
	case *pg_query.Node_SelectStmt:
		return w.selectStmt(q.SelectStmt, lv)
	case *pg_query.Node_InsertStmt:
		return w.insertStmt(q.InsertStmt, lv)
	case *pg_query.Node_UpdateStmt:
		return w.updateStmt(q.UpdateStmt, lv)
	case *pg_query.Node_DeleteStmt:
		return w.deleteStmt(q.DeleteStmt, lv)
	default:
		return nil, forbiddenStatement(c.Ctequery)
	}
}

func aliasNames(ns []*pg_query.Node) map[string]bool {
	m := make(map[string]bool, len(ns))
	for _, n := range ns {
		if s, ok := n.GetNode().(*pg_query.Node_String_); ok {
			m[s.String_.Sval] = true
		}
	}
	return m
}

// fromItem checks one FROM item and returns the namespace items it exposes.
// vis is the level a LATERAL item (or a function in FROM, which is always
// lateral) sees: lv plus the items to its left.
func (w *walker) fromItem(n *pg_query.Node, lv, vis *level) ([]*item, *grants.Denial) {
	if d := w.enter(); d != nil {
		return nil, d
	}
	defer w.leave()
	switch v := n.GetNode().(type) {
	case *pg_query.Node_RangeVar:
		it, d := w.rangeVar(v.RangeVar, lv)
		if d != nil {
			return nil, d
		}
		return []*item{it}, nil

	case *pg_query.Node_RangeSubselect:
		rs := v.RangeSubselect
		parent := lv.hidden()
		if rs.Lateral {
			parent = vis
		}
		sel, ok := rs.Subquery.GetNode().(*pg_query.Node_SelectStmt)
		if !ok {
			return nil, unsupported(rs.Subquery)
		}
		out, d := w.selectStmt(sel.SelectStmt, parent)
		if d != nil {
			return nil, d
		}
		it := &item{relVisible: true, colsVisible: true, srcs: []*source{out}}
		if rs.Alias != nil {
			it.refname = rs.Alias.Aliasname
			if len(rs.Alias.Colnames) > 0 {
				it.srcs = []*source{{cols: aliasNames(rs.Alias.Colnames), open: true}}
			}
		}
		return []*item{it}, nil

	case *pg_query.Node_RangeFunction:
		return w.rangeFunction(v.RangeFunction, vis)

	case *pg_query.Node_JoinExpr:
		return w.joinExpr(v.JoinExpr, lv, vis)

	case *pg_query.Node_RangeTableSample:
		rts := v.RangeTableSample
		rv, ok := rts.Relation.GetNode().(*pg_query.Node_RangeVar)
		if !ok {
			return nil, unsupported(rts.Relation)
		}
		if rv.RangeVar.Schemaname == "" && lv.lookupCTE(rv.RangeVar.Relname) != nil {
			return nil, grants.Deny(grants.CodeForbiddenStatement, "TABLESAMPLE applies to tables, not to the WITH query %s", rv.RangeVar.Relname)
		}
		method, ok := singleName(rts.Method)
		if !ok || !tableSampleMethods[method] {
			return nil, grants.Deny(grants.CodeForbiddenFunction, "TABLESAMPLE method %s is not allowed; use SYSTEM or BERNOULLI", nameString(rts.Method))
		}
		it, d := w.rangeVar(rv.RangeVar, lv)
		if d != nil {
			return nil, d
		}
		hidden := lv.hidden()
		for _, a := range rts.Args {
			if d := w.expr(a, hidden); d != nil {
				return nil, d
			}
		}
		if d := w.expr(rts.Repeatable, hidden); d != nil {
			return nil, d
		}
		return []*item{it}, nil

	case *pg_query.Node_RangeTableFunc:
		return nil, grants.Deny(grants.CodeForbiddenFunction, "XMLTABLE is not allowed; keyhole allows no XML processing")
	default:
		return nil, unsupported(n)
	}
}

// rangeVar resolves a relation named in FROM: a CTE if unqualified and one
// is visible, otherwise a table that must be in scope.
func (w *walker) rangeVar(rv *pg_query.RangeVar, lv *level) (*item, *grants.Denial) {
	refname := rv.Relname
	if rv.Alias != nil {
		refname = rv.Alias.Aliasname
	}
	if rv.Catalogname == "" && rv.Schemaname == "" {
		if c := lv.lookupCTE(rv.Relname); c != nil {
			src := c.src
			if rv.Alias != nil && len(rv.Alias.Colnames) > 0 {
				src = &source{cols: aliasNames(rv.Alias.Colnames), open: true}
			}
			return &item{refname: refname, relVisible: true, colsVisible: true, srcs: []*source{src}}, nil
		}
	}
	t, ts, d := w.resolveTable(rv)
	if d != nil {
		return nil, d
	}
	if ts.Columns != nil && rv.Alias != nil && len(rv.Alias.Colnames) > 0 {
		return nil, grants.Deny(grants.CodeOutOfScope, "a column alias list on %s renames columns keyhole cannot see; grant covers only %s; drop the alias list and alias columns in the select list instead", t, columnList(ts))
	}
	w.reads[t] = true
	it := &item{refname: refname, relname: t.Name, relVisible: true, colsVisible: true, srcs: []*source{{table: t, ts: ts, known: w.knownColumns(t, rv.Alias)}}}
	if rv.Alias == nil {
		it.schema = t.Schema
	}
	return it, nil
}

// knownColumns returns the columns a relation shows under its alias, where
// the catalog is known: the catalog's, the first ones renamed by an alias
// list (AS t(a, b)), so that a renamed name resolves further out as it does
// in PostgreSQL.
func (w *walker) knownColumns(t grants.Table, alias *pg_query.Alias) map[string]bool {
	known := w.a.columns[t]
	if known == nil || alias == nil || len(alias.Colnames) == 0 {
		return known
	}
	cols := w.a.opts.TableColumns[t]
	m := make(map[string]bool, len(cols))
	for i, c := range cols {
		if i < len(alias.Colnames) {
			s, ok := alias.Colnames[i].GetNode().(*pg_query.Node_String_)
			if !ok {
				return nil
			}
			c = s.String_.Sval
		}
		m[c] = true
	}
	return m
}

// resolveTable names the table a RangeVar means, as PostgreSQL resolves it,
// and looks it up in the scope.
func (w *walker) resolveTable(rv *pg_query.RangeVar) (grants.Table, *grants.TableScope, *grants.Denial) {
	if rv.Catalogname != "" {
		return grants.Table{}, nil, grants.Deny(grants.CodeOutOfScope, "%s.%s.%s names a database; write schema.table without the database name", rv.Catalogname, rv.Schemaname, rv.Relname)
	}
	t := grants.Table{Schema: rv.Schemaname, Name: rv.Relname}
	if t.Schema == "" {
		var d *grants.Denial
		if t, d = w.resolveUnqualified(rv.Relname); d != nil {
			return grants.Table{}, nil, d
		}
	}
	ts, ok := w.scope.Lookup(t)
	if !ok {
		return grants.Table{}, nil, w.tableOutOfScope(t, rv.Schemaname == "")
	}
	return t, &ts, nil
}

// resolveUnqualified applies the search path keyhole sets for every query:
// pg_catalog first (all its relations are named pg_*), then SearchPath. Only
// the first SearchPath schema is assumed; a name that would fall through to
// a later schema must be written qualified, since keyhole cannot see which
// schemas hold it.
func (w *walker) resolveUnqualified(name string) (grants.Table, *grants.Denial) {
	sp := w.a.opts.SearchPath
	if strings.HasPrefix(name, "pg_") {
		for _, s := range sp {
			if _, ok := w.scope.Lookup(grants.Table{Schema: s, Name: name}); ok {
				return grants.Table{}, grants.Deny(grants.CodeOutOfScope, "an unqualified %s resolves to the system catalog pg_catalog.%s before %s.%s; write %s.%s", name, name, s, name, s, name)
			}
		}
		return grants.Table{Schema: "pg_catalog", Name: name}, nil
	}
	t := grants.Table{Schema: sp[0], Name: name}
	if _, ok := w.scope.Lookup(t); !ok {
		for _, s := range sp[1:] {
			if _, ok := w.scope.Lookup(grants.Table{Schema: s, Name: name}); ok {
				return grants.Table{}, grants.Deny(grants.CodeOutOfScope, "an unqualified %s may resolve to %s.%s, which is earlier on the search path; write %s.%s", name, sp[0], name, s, name)
			}
		}
	}
	return t, nil
}

func (w *walker) tableOutOfScope(t grants.Table, unqualified bool) *grants.Denial {
	hint := ""
	if unqualified {
		hint = fmt.Sprintf(" (an unqualified name resolves to %s)", t)
	}
	return grants.Deny(grants.CodeOutOfScope, "relation %s%s is not in this grant's scope; %s", t, hint, w.scopeHint())
}

// scopeHint says what the grant does cover, bounded in length.
func (w *walker) scopeHint() string {
	if len(w.scope.Tables) == 0 {
		return "the grant covers no tables"
	}
	var parts []string
	for i, ts := range w.scope.Tables {
		if i == 8 {
			parts = append(parts, fmt.Sprintf("and %d more", len(w.scope.Tables)-i))
			break
		}
		parts = append(parts, ts.String())
	}
	return "query only " + strings.Join(parts, ", ") + ", or request access to more"
}

func columnList(ts *grants.TableScope) string {
	return strings.Join(ts.Columns, ", ")
}

func (w *walker) rangeFunction(rf *pg_query.RangeFunction, vis *level) ([]*item, *grants.Denial) {
	refname := ""
	src := &source{cols: map[string]bool{}, open: true, fn: true}
	for _, f := range rf.Functions {
		pair, ok := f.GetNode().(*pg_query.Node_List)
		if !ok || len(pair.List.Items) == 0 || len(pair.List.Items) > 2 {
			return nil, unsupported(f)
		}
		fc, ok := pair.List.Items[0].GetNode().(*pg_query.Node_FuncCall)
		if !ok {
			return nil, grants.Deny(grants.CodeForbiddenStatement, "only function calls may appear as functions in FROM")
		}
		if d := w.funcCall(fc.FuncCall, vis); d != nil {
			return nil, d
		}
		if refname == "" && len(fc.FuncCall.Funcname) > 0 {
			refname, _ = lastName(fc.FuncCall.Funcname)
		}
		if len(pair.List.Items) == 2 && pair.List.Items[1].GetNode() != nil {
			defs, ok := pair.List.Items[1].GetNode().(*pg_query.Node_List)
			if !ok {
				return nil, unsupported(pair.List.Items[1])
			}
			if d := w.columnDefs(defs.List.Items); d != nil {
				return nil, d
			}
			addDefNames(src.cols, defs.List.Items)
		}
	}
	if d := w.columnDefs(rf.Coldeflist); d != nil {
		return nil, d
	}
	addDefNames(src.cols, rf.Coldeflist)
	if rf.Alias != nil {
		refname = rf.Alias.Aliasname
		for c := range aliasNames(rf.Alias.Colnames) {
			src.cols[c] = true
		}
	}
	return []*item{{refname: refname, relVisible: true, colsVisible: true, srcs: []*source{src}}}, nil
}

// addDefNames adds the columns a column definition list names.
func addDefNames(cols map[string]bool, defs []*pg_query.Node) {
	for _, n := range defs {
		if cd, ok := n.GetNode().(*pg_query.Node_ColumnDef); ok {
			cols[cd.ColumnDef.Colname] = true
		}
	}
}

// columnDefs checks a column definition list (f() AS t(a int, b text)):
// only built-in types, nothing else.
func (w *walker) columnDefs(defs []*pg_query.Node) *grants.Denial {
	for _, n := range defs {
		cd, ok := n.GetNode().(*pg_query.Node_ColumnDef)
		if !ok {
			return unsupported(n)
		}
		c := cd.ColumnDef
		if c.RawDefault != nil || c.CookedDefault != nil || len(c.Constraints) > 0 || c.CollClause != nil && len(c.CollClause.Collname) == 0 {
			return grants.Deny(grants.CodeForbiddenStatement, "a column definition list may only name columns and types")
		}
		if d := w.typeName(c.TypeName); d != nil {
			return d
		}
	}
	return nil
}

func (w *walker) joinExpr(j *pg_query.JoinExpr, lv, vis *level) ([]*item, *grants.Denial) {
	switch j.Jointype {
	case pg_query.JoinType_JOIN_INNER, pg_query.JoinType_JOIN_LEFT, pg_query.JoinType_JOIN_FULL, pg_query.JoinType_JOIN_RIGHT:
	default:
		return nil, grants.Deny(grants.CodeForbiddenStatement, "unsupported join type %s", j.Jointype)
	}
	left, d := w.fromItem(j.Larg, lv, vis)
	if d != nil {
		return nil, d
	}
	// The right side may refer LATERALly to what stands to its left.
	rvis := vis.with(append(slices.Clip(vis.items), left...))
	right, d := w.fromItem(j.Rarg, lv, rvis)
	if d != nil {
		return nil, d
	}
	both := append(slices.Clip(left), right...)
	var srcs []*source
	for _, it := range both {
		if it.colsVisible {
			srcs = append(srcs, it.srcs...)
		}
	}
	if j.IsNatural {
		for _, s := range srcs {
			if s.restricted() {
				return nil, grants.Deny(grants.CodeOutOfScope, "NATURAL JOIN compares every column of the same name, and only %s of %s are granted; join with ON and qualified columns instead", columnList(s.ts), s.table)
			}
		}
	}
	var using *source
	if len(j.UsingClause) > 0 {
		using = &source{cols: map[string]bool{}}
		for _, u := range j.UsingClause {
			s, ok := u.GetNode().(*pg_query.Node_String_)
			if !ok {
				return nil, unsupported(u)
			}
			col := s.String_.Sval
			for _, src := range srcs {
				if has, known := src.has(col); src.restricted() && !src.ts.AllowsColumn(col) && (has || !known) {
					return nil, grants.Deny(grants.CodeOutOfScope, "JOIN ... USING (%s) may compare column %s of %s, which is not granted (granted: %s); join with ON and qualified columns instead", col, col, src.table, columnList(src.ts))
				}
				if src.base() && (src.restricted() || countBase(srcs) == 1) {
					w.columns[columnKey(src.table, col)] = true
				}
			}
			using.cols[col] = true
		}
		if d := w.implicitOperator("=", "JOIN ... USING"); d != nil {
			return nil, d
		}
	}
	if j.Quals != nil {
		if d := w.expr(j.Quals, lv.with(both)); d != nil {
			return nil, d
		}
	}
	joinSrcs := srcs
	if using != nil {
		joinSrcs = append([]*source{using}, srcs...)
	}
	joinItem := &item{colsVisible: true, srcs: joinSrcs}
	if j.Alias != nil {
		joinItem.refname = j.Alias.Aliasname
		joinItem.relVisible = true
		if len(j.Alias.Colnames) > 0 {
			for _, s := range srcs {
				if s.restricted() {
					return nil, grants.Deny(grants.CodeOutOfScope, "a column alias list on a join renames columns of %s keyhole cannot see; alias columns in the select list instead", s.table)
				}
			}
			joinItem.srcs = []*source{{cols: aliasNames(j.Alias.Colnames), open: true}}
		}
		return []*item{joinItem}, nil
	}
	out := make([]*item, 0, len(both)+2)
	for _, it := range both {
		c := *it
		c.colsVisible = false
		out = append(out, &c)
	}
	if j.JoinUsingAlias != nil && using != nil {
		out = append(out, &item{refname: j.JoinUsingAlias.Aliasname, relVisible: true, srcs: []*source{using}})
	}
	return append(out, joinItem), nil
}

func countBase(srcs []*source) int {
	n := 0
	for _, s := range srcs {
		if s.base() {
			n++
		}
	}
	return n
}

func columnKey(t grants.Table, col string) string {
	return t.Schema + "." + t.Name + "." + col
}
