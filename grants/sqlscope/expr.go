package sqlscope

import (
	"fmt"
	"slices"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/keyholehq/keyhole/grants"
)

// expr checks one expression evaluated in query level lv. A nil node (an
// absent optional clause) is fine; a present node of a kind not handled here
// is refused.
func (w *walker) expr(n *pg_query.Node, lv *level) *grants.Denial {
	if n == nil {
		return nil
	}
	if d := w.enter(); d != nil {
		return d
	}
	defer w.leave()
	switch v := n.GetNode().(type) {
	case *pg_query.Node_AConst, *pg_query.Node_ParamRef, *pg_query.Node_SqlvalueFunction:
		return nil
	case *pg_query.Node_ColumnRef:
		return w.columnRef(v.ColumnRef, lv)
	case *pg_query.Node_AExpr:
		return w.aExpr(v.AExpr, lv)
	case *pg_query.Node_BoolExpr:
		return w.exprs(v.BoolExpr.Args, lv)
	case *pg_query.Node_FuncCall:
		return w.funcCall(v.FuncCall, lv)
	case *pg_query.Node_TypeCast:
		if d := w.typeName(v.TypeCast.TypeName); d != nil {
			return d
		}
		return w.expr(v.TypeCast.Arg, lv)
	case *pg_query.Node_CollateClause:
		return w.expr(v.CollateClause.Arg, lv)
	case *pg_query.Node_NullTest:
		return w.expr(v.NullTest.Arg, lv)
	case *pg_query.Node_BooleanTest:
		return w.expr(v.BooleanTest.Arg, lv)
	case *pg_query.Node_CaseExpr:
		c := v.CaseExpr
		if c.Arg != nil {
			if d := w.implicitOperator("=", "CASE x WHEN"); d != nil {
				return d
			}
			if d := w.expr(c.Arg, lv); d != nil {
				return d
			}
		}
		for _, a := range c.Args {
			cw, ok := a.GetNode().(*pg_query.Node_CaseWhen)
			if !ok {
				return unsupported(a)
			}
			if d := w.expr(cw.CaseWhen.Expr, lv); d != nil {
				return d
			}
			if d := w.expr(cw.CaseWhen.Result, lv); d != nil {
				return d
			}
		}
		return w.expr(c.Defresult, lv)
	case *pg_query.Node_CoalesceExpr:
		return w.exprs(v.CoalesceExpr.Args, lv)
	case *pg_query.Node_MinMaxExpr:
		return w.exprs(v.MinMaxExpr.Args, lv)
	case *pg_query.Node_AArrayExpr:
		return w.exprs(v.AArrayExpr.Elements, lv)
	case *pg_query.Node_RowExpr:
		return w.exprs(v.RowExpr.Args, lv)
	case *pg_query.Node_GroupingFunc:
		return w.exprs(v.GroupingFunc.Args, lv)
	case *pg_query.Node_AIndirection:
		return w.indirection(v.AIndirection, lv)
	case *pg_query.Node_SubLink:
		return w.subLink(v.SubLink, lv)
	case *pg_query.Node_NamedArgExpr:
		return w.expr(v.NamedArgExpr.Arg, lv)
	case *pg_query.Node_SetToDefault:
		return nil
	case *pg_query.Node_CurrentOfExpr:
		return grants.Deny(grants.CodeForbiddenStatement, "WHERE CURRENT OF needs a cursor, and cursors are not allowed; use a key condition instead")
	case *pg_query.Node_XmlExpr, *pg_query.Node_XmlSerialize:
		return grants.Deny(grants.CodeForbiddenFunction, "XML functions are not allowed; use text or JSON functions instead")
	default:
		return unsupported(n)
	}
}

func (w *walker) exprs(ns []*pg_query.Node, lv *level) *grants.Denial {
	for _, n := range ns {
		if n.GetNode() == nil {
			return grants.Deny(grants.CodeForbiddenStatement, "unexpected empty expression")
		}
		if d := w.expr(n, lv); d != nil {
			return d
		}
	}
	return nil
}

func (w *walker) aExpr(e *pg_query.A_Expr, lv *level) *grants.Denial {
	switch e.Kind {
	case pg_query.A_Expr_Kind_AEXPR_OP, pg_query.A_Expr_Kind_AEXPR_OP_ANY, pg_query.A_Expr_Kind_AEXPR_OP_ALL,
		pg_query.A_Expr_Kind_AEXPR_DISTINCT, pg_query.A_Expr_Kind_AEXPR_NOT_DISTINCT, pg_query.A_Expr_Kind_AEXPR_NULLIF,
		pg_query.A_Expr_Kind_AEXPR_LIKE, pg_query.A_Expr_Kind_AEXPR_ILIKE, pg_query.A_Expr_Kind_AEXPR_SIMILAR:
		if d := w.operator(e.Name); d != nil {
			return d
		}
	case pg_query.A_Expr_Kind_AEXPR_IN:
		if d := w.operator(e.Name); d != nil {
			return d
		}
		return w.pair(e, lv)
	case pg_query.A_Expr_Kind_AEXPR_BETWEEN, pg_query.A_Expr_Kind_AEXPR_NOT_BETWEEN,
		pg_query.A_Expr_Kind_AEXPR_BETWEEN_SYM, pg_query.A_Expr_Kind_AEXPR_NOT_BETWEEN_SYM:
		// PostgreSQL rewrites BETWEEN into comparisons it looks up by name.
		for _, op := range []string{">=", "<=", "<", ">"} {
			if d := w.implicitOperator(op, "BETWEEN"); d != nil {
				return d
			}
		}
		return w.pair(e, lv)
	default:
		return grants.Deny(grants.CodeForbiddenStatement, "unsupported operator expression")
	}
	if d := w.expr(e.Lexpr, lv); d != nil {
		return d
	}
	return w.expr(e.Rexpr, lv)
}

// pair checks an IN or BETWEEN expression, whose right side is a list.
func (w *walker) pair(e *pg_query.A_Expr, lv *level) *grants.Denial {
	if d := w.expr(e.Lexpr, lv); d != nil {
		return d
	}
	if l, ok := e.Rexpr.GetNode().(*pg_query.Node_List); ok {
		return w.exprs(l.List.Items, lv)
	}
	return w.expr(e.Rexpr, lv)
}

func (w *walker) indirection(ind *pg_query.A_Indirection, lv *level) *grants.Denial {
	if d := w.expr(ind.Arg, lv); d != nil {
		return d
	}
	for _, i := range ind.Indirection {
		switch v := i.GetNode().(type) {
		case *pg_query.Node_String_:
			// (value).name selects a field of a composite value, or else
			// calls name(value) on a value of any type.
			if d := w.attributeCall(v.String_.Sval); d != nil {
				return d
			}
		case *pg_query.Node_AStar:
			// (composite).* expands a value already checked.
		case *pg_query.Node_AIndices:
			if d := w.expr(v.AIndices.Lidx, lv); d != nil {
				return d
			}
			if d := w.expr(v.AIndices.Uidx, lv); d != nil {
				return d
			}
		default:
			return unsupported(i)
		}
	}
	return nil
}

func (w *walker) subLink(s *pg_query.SubLink, lv *level) *grants.Denial {
	switch s.SubLinkType {
	case pg_query.SubLinkType_EXISTS_SUBLINK, pg_query.SubLinkType_EXPR_SUBLINK, pg_query.SubLinkType_ARRAY_SUBLINK,
		pg_query.SubLinkType_ANY_SUBLINK, pg_query.SubLinkType_ALL_SUBLINK, pg_query.SubLinkType_ROWCOMPARE_SUBLINK,
		pg_query.SubLinkType_MULTIEXPR_SUBLINK:
	default:
		return grants.Deny(grants.CodeForbiddenStatement, "unsupported subquery form")
	}
	if len(s.OperName) > 0 {
		if d := w.operator(s.OperName); d != nil {
			return d
		}
	} else if s.SubLinkType == pg_query.SubLinkType_ANY_SUBLINK {
		if d := w.implicitOperator("=", "IN (subquery)"); d != nil {
			return d
		}
	}
	if d := w.expr(s.Testexpr, lv); d != nil {
		return d
	}
	sel, ok := s.Subselect.GetNode().(*pg_query.Node_SelectStmt)
	if !ok {
		return unsupported(s.Subselect)
	}
	_, d := w.selectStmt(sel.SelectStmt, lv)
	return d
}

// columnRef checks a column reference the way PostgreSQL resolves it
// (transformColumnRef): a.b is column b of the FROM item a if there is one,
// otherwise field b of column a; a.b.c may be schema.table.column.
func (w *walker) columnRef(cr *pg_query.ColumnRef, lv *level) *grants.Denial {
	f := cr.Fields
	names := make([]string, 0, len(f))
	star := false
	for i, n := range f {
		switch v := n.GetNode().(type) {
		case *pg_query.Node_String_:
			names = append(names, v.String_.Sval)
		case *pg_query.Node_AStar:
			if i != len(f)-1 {
				return unsupported(n)
			}
			star = true
		default:
			return unsupported(n)
		}
	}
	switch {
	case star && len(names) == 0:
		return w.star(lv)
	case star && len(names) == 1:
		it := findItem(lv, names[0])
		if it == nil {
			return grants.Deny(grants.CodeParseError, "%s.* names no FROM item", names[0])
		}
		return w.itemStar(it)
	case star && len(names) == 2:
		it := findRelation(lv, names[0], names[1])
		if it == nil {
			return grants.Deny(grants.CodeParseError, "%s.%s.* names no FROM item", names[0], names[1])
		}
		return w.itemStar(it)
	case star:
		return grants.Deny(grants.CodeForbiddenStatement, "references with a database name are not supported; write table.column")
	}
	switch len(names) {
	case 1:
		return w.bareColumn(names[0], lv)
	case 2:
		if it := findItem(lv, names[0]); it != nil {
			return w.itemColumn(it, names[1])
		}
		if d := w.attributeFunction(names[1]); d != nil {
			return d
		}
		return w.bareColumn(names[0], lv)
	case 3:
		if it := findRelation(lv, names[0], names[1]); it != nil {
			return w.itemColumn(it, names[2])
		}
		if d := w.attributeFunction(names[2]); d != nil {
			return d
		}
		if it := findItem(lv, names[0]); it != nil {
			return w.itemColumn(it, names[1])
		}
		if d := w.attributeFunction(names[1]); d != nil {
			return d
		}
		return w.bareColumn(names[0], lv)
	default:
		return grants.Deny(grants.CodeForbiddenStatement, "references with a database name are not supported; write table.column")
	}
}

// findItem finds the FROM item a qualified reference names, innermost level
// first, as PostgreSQL's refnameNamespaceItem does.
func findItem(lv *level, refname string) *item {
	for l := lv; l != nil; l = l.parent {
		for _, it := range l.items {
			if it.relVisible && it.refname == refname {
				return it
			}
		}
	}
	return nil
}

// findRelation finds an un-aliased base relation schema.name.
func findRelation(lv *level, schema, name string) *item {
	for l := lv; l != nil; l = l.parent {
		for _, it := range l.items {
			if it.relVisible && it.schema != "" && it.schema == schema && it.relname == name {
				return it
			}
		}
	}
	return nil
}

// star checks SELECT *: every column of every FROM item of this level.
func (w *walker) star(lv *level) *grants.Denial {
	for _, it := range lv.items {
		if !it.colsVisible {
			continue
		}
		if d := w.itemStar(it); d != nil {
			return d
		}
	}
	return nil
}

func (w *walker) itemStar(it *item) *grants.Denial {
	for _, s := range it.srcs {
		if s.restricted() && !s.allGranted() {
			return grants.Deny(grants.CodeOutOfScope, "* would read every column of %s, but only %s are granted; list the columns you need", s.table, columnList(s.ts))
		}
		if s.base() {
			w.columns[columnKey(s.table, "*")] = true
		}
	}
	return nil
}

// itemColumn checks column col of one FROM item.
func (w *walker) itemColumn(it *item, col string) *grants.Denial {
	derivedHas := false
	for _, s := range it.srcs {
		switch {
		case s.restricted():
			if !s.ts.AllowsColumn(col) {
				return w.columnDenied(s, col, it.refname, "")
			}
			w.columns[columnKey(s.table, col)] = true
		case s.base():
			if len(it.srcs) == 1 {
				w.columns[columnKey(s.table, col)] = true
			}
		default:
			derivedHas = derivedHas || s.cols[col]
		}
	}
	if derivedHas {
		return nil
	}
	// Not a known column: PostgreSQL would try col(whole row) next. The
	// whole row of a table, subquery or join is a row, which only a few
	// harmless built-ins take; that of a function in FROM may be its
	// single scalar output, which any function may take.
	if len(it.srcs) == 1 && it.srcs[0].fn {
		return w.attributeCall(col)
	}
	return w.attributeFunction(col)
}

// bareColumn checks an unqualified name. PostgreSQL looks for a column of
// that name in the innermost level first and stops at the first level
// where some FROM item has it (two items there are an ambiguity error); if
// no level has it, the name may be a whole-row reference to a FROM item.
// keyhole cannot see which columns a table has, so where a column-scoped
// table could hold the name without granting it, the reference is refused
// and the agent asked to qualify it.
func (w *walker) bareColumn(name string, lv *level) *grants.Denial {
	for l := lv; l != nil; l = l.parent {
		stop, d := w.scanLevel(name, l)
		if d != nil || stop {
			return d
		}
	}
	for l := lv; l != nil; l = l.parent {
		for _, it := range l.items {
			if !it.relVisible || it.refname != name {
				continue
			}
			if s := it.restrictedSource(); s != nil {
				return grants.Deny(grants.CodeOutOfScope, "%s refers to whole rows of %s, but only %s are granted; name the granted columns instead", name, s.table, columnList(s.ts))
			}
		}
	}
	return nil
}

// resolveInLevel checks name against level lv alone (GROUP BY's first
// look). found reports that a FROM item of lv certainly has the column.
func (w *walker) resolveInLevel(name string, lv *level) (bool, *grants.Denial) {
	return w.scanLevel(name, lv)
}

// scanLevel reports whether resolution of a bare name certainly stops at
// level l, refusing if a column-scoped table there might hold it ungranted.
func (w *walker) scanLevel(name string, l *level) (bool, *grants.Denial) {
	definite := false
	var risky *source
	var riskyRef string
	var bases []*source
	for _, it := range l.items {
		if !it.colsVisible {
			continue
		}
		for _, s := range it.srcs {
			has, known := s.has(name)
			switch {
			case s.restricted():
				switch {
				case known && !has:
					// Not a column here, granted or not: PostgreSQL
					// looks further out.
				case s.ts.AllowsColumn(name):
					definite = true
					w.columns[columnKey(s.table, name)] = true
				case risky == nil:
					risky, riskyRef = s, it.refname
				}
			case s.base():
				if known && has {
					definite = true
					w.columns[columnKey(s.table, name)] = true
				} else if !known {
					bases = append(bases, s)
				}
			default:
				if s.cols[name] {
					definite = true
				}
			}
		}
	}
	if risky != nil && !definite {
		return false, w.columnDenied(risky, name, riskyRef, otherAlias(l, risky))
	}
	if !definite && len(bases) == 1 {
		w.columns[columnKey(bases[0].table, name)] = true
		return false, nil
	}
	return definite, nil
}

func (w *walker) columnDenied(s *source, col, ref, other string) *grants.Denial {
	if ref == col || s.table.Name == col {
		return grants.Deny(grants.CodeOutOfScope, "%s refers to whole rows of %s, but only %s are granted; name the granted columns instead", col, s.table, columnList(s.ts))
	}
	hint := "use only granted columns"
	if other != "" {
		hint = fmt.Sprintf("if %s belongs to another table, qualify it (for example %s.%s); otherwise use only granted columns", col, other, col)
	}
	return grants.Deny(grants.CodeOutOfScope, "column %s of %s is not granted (granted: %s); %s", col, s.table, columnList(s.ts), hint)
}

// otherAlias names a FROM item of l other than the one holding s, for a hint.
func otherAlias(l *level, s *source) string {
	for _, it := range l.items {
		if !it.relVisible || it.refname == "" {
			continue
		}
		if !slices.Contains(it.srcs, s) {
			return it.refname
		}
	}
	return ""
}

// attributeFunction refuses x.name where name is a user-defined function in
// a search_path schema: PostgreSQL reads x.name as name(x) when x has no
// column of that name.
func (w *walker) attributeFunction(name string) *grants.Denial {
	if sh := w.a.opts.Shadowing; sh != nil && sh.Functions[strings.ToLower(name)] {
		return grants.Deny(grants.CodeForbiddenFunction, "%s could call the user-defined function %s on a whole row; reference only columns", name, name)
	}
	return nil
}

// attributeCall checks name where PostgreSQL reads x.name as the call
// name(x) unless x is a composite value with a field of that name, and
// keyhole cannot see x's type: (expression).name, or a column of a function
// in FROM. Any function taking one argument would run, so name must be an
// allowed built-in (one without bounds, which take more arguments) or a
// field name no built-in function has.
func (w *walker) attributeCall(name string) *grants.Denial {
	if d := w.attributeFunction(name); d != nil {
		return d
	}
	if fieldNames[name] || w.a.builtin(name) && !boundedFunctions[name] {
		return nil
	}
	return grants.Deny(grants.CodeForbiddenFunction, ".%s may call the function %s on the value before it (PostgreSQL reads x.%s as %s(x) when x has no field %s), and keyhole cannot see that value's type; read a field of a composite value with to_jsonb(value)->>'%s', or a column of a function in FROM through an alias list (AS t(a, b))", name, name, name, name, name, name)
}

// fieldNames are the columns that allow-listed functions in FROM name
// (jsonb_each's key and value, WITH ORDINALITY's ordinality), which
// (jsonb_each(x)).key also selects. No built-in function has these names; a
// test checks that against the server.
var fieldNames = setOf(`key value ordinality`)

// operator checks an operator named in the statement.
func (w *walker) operator(names []*pg_query.Node) *grants.Denial {
	parts := make([]string, 0, len(names))
	for _, n := range names {
		s, ok := n.GetNode().(*pg_query.Node_String_)
		if !ok {
			return unsupported(n)
		}
		parts = append(parts, s.String_.Sval)
	}
	switch len(parts) {
	case 1:
		return w.implicitOperator(parts[0], "")
	case 2:
		if parts[0] == "pg_catalog" && builtinOperators[parts[1]] {
			return nil
		}
	}
	return grants.Deny(grants.CodeForbiddenFunction, "operator %s is not a built-in operator; only pg_catalog operators are allowed", strings.Join(parts, "."))
}

// implicitOperator checks an operator PostgreSQL looks up by name on the
// search path, written or implied (IN, BETWEEN, CASE, USING use = and
// friends).
func (w *walker) implicitOperator(op, clause string) *grants.Denial {
	if sh := w.a.opts.Shadowing; sh != nil && sh.Operators[op] {
		where := ""
		if clause != "" {
			where = " (used by " + clause + ")"
		}
		return grants.Deny(grants.CodeForbiddenFunction, "operator %s%s is also defined in a schema on the search path, so PostgreSQL might pick that one; write OPERATOR(pg_catalog.%s) to use the built-in", op, where, op)
	}
	if !builtinOperators[op] {
		return grants.Deny(grants.CodeForbiddenFunction, "operator %s is not a built-in operator; only pg_catalog operators are allowed", op)
	}
	return nil
}

// typeName allows casts to built-in types only: a cast runs the type's input
// function, and a domain's CHECK may call anything.
func (w *walker) typeName(tn *pg_query.TypeName) *grants.Denial {
	if tn == nil {
		return grants.Deny(grants.CodeParseError, "missing type name")
	}
	if tn.Setof || tn.PctType {
		return grants.Deny(grants.CodeForbiddenStatement, "SETOF and %%TYPE are not allowed in a cast")
	}
	parts := make([]string, 0, len(tn.Names))
	for _, n := range tn.Names {
		s, ok := n.GetNode().(*pg_query.Node_String_)
		if !ok {
			return unsupported(n)
		}
		parts = append(parts, s.String_.Sval)
	}
	ok := (len(parts) == 1 && builtinTypes[parts[0]]) ||
		(len(parts) == 2 && parts[0] == "pg_catalog" && builtinTypes[parts[1]])
	if !ok {
		return grants.Deny(grants.CodeForbiddenFunction, "cast to type %s is not allowed; casts may name built-in types only (numeric, text, date, timestamptz, jsonb, ...)", strings.Join(parts, "."))
	}
	for _, m := range tn.Typmods {
		if _, ok := m.GetNode().(*pg_query.Node_AConst); !ok {
			if _, ok := m.GetNode().(*pg_query.Node_ColumnRef); !ok {
				return grants.Deny(grants.CodeForbiddenStatement, "type modifiers must be constants")
			}
		}
	}
	return nil
}

// outputName is the column name PostgreSQL gives a select-list entry, when
// keyhole knows it for certain: an explicit alias, or the last name of a
// column reference.
func outputName(rt *pg_query.ResTarget) (string, bool) {
	if rt.Name != "" {
		return rt.Name, true
	}
	if cr, ok := rt.Val.GetNode().(*pg_query.Node_ColumnRef); ok && len(cr.ColumnRef.Fields) > 0 {
		if s, ok := cr.ColumnRef.Fields[len(cr.ColumnRef.Fields)-1].GetNode().(*pg_query.Node_String_); ok {
			return s.String_.Sval, true
		}
	}
	return "", false
}

// bareName reports whether n is an unqualified column name.
func bareName(n *pg_query.Node) (string, bool) {
	cr, ok := n.GetNode().(*pg_query.Node_ColumnRef)
	if !ok || len(cr.ColumnRef.Fields) != 1 {
		return "", false
	}
	s, ok := cr.ColumnRef.Fields[0].GetNode().(*pg_query.Node_String_)
	if !ok {
		return "", false
	}
	return s.String_.Sval, true
}

func singleName(ns []*pg_query.Node) (string, bool) {
	if len(ns) != 1 {
		return "", false
	}
	s, ok := ns[0].GetNode().(*pg_query.Node_String_)
	if !ok {
		return "", false
	}
	return s.String_.Sval, true
}

func lastName(ns []*pg_query.Node) (string, bool) {
	if len(ns) == 0 {
		return "", false
	}
	s, ok := ns[len(ns)-1].GetNode().(*pg_query.Node_String_)
	if !ok {
		return "", false
	}
	return s.String_.Sval, true
}

func nameString(ns []*pg_query.Node) string {
	parts := make([]string, 0, len(ns))
	for _, n := range ns {
		if s, ok := n.GetNode().(*pg_query.Node_String_); ok {
			parts = append(parts, s.String_.Sval)
		} else {
			parts = append(parts, "?")
		}
	}
	return strings.Join(parts, ".")
}

// nodeKind names a node's type the way pg_query does (SelectStmt, FuncCall).
func nodeKind(n *pg_query.Node) string {
	if n == nil || n.GetNode() == nil {
		return "empty node"
	}
	return strings.TrimPrefix(fmt.Sprintf("%T", n.GetNode()), "*pg_query.Node_")
}

func unsupported(n *pg_query.Node) *grants.Denial {
	return grants.Deny(grants.CodeForbiddenStatement, "%s is not supported here; keyhole refuses SQL it does not fully understand, so rewrite the query with plainer SQL", nodeKind(n))
}
