package sqlscope

import (
	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/keyholehq/keyhole/grants"
)

// writeTarget resolves the table a write statement changes. CTE names never
// apply to a write target, as in PostgreSQL.
func (w *walker) writeTarget(verb string, rv *pg_query.RangeVar) (*item, *grants.Denial) {
	if rv == nil {
		return nil, grants.Deny(grants.CodeParseError, "%s without a table", verb)
	}
	if w.scope.Privilege != grants.Write {
		t := grants.Table{Schema: rv.Schemaname, Name: rv.Relname}
		if t.Schema == "" && rv.Catalogname == "" {
			if rt, d := w.resolveUnqualified(rv.Relname); d == nil {
				t = rt
			}
		}
		return nil, grants.Deny(grants.CodeWriteNotGranted, "%s writes to %s, but this grant is read-only; request a write grant for it", verb, t)
	}
	t, ts, d := w.resolveTable(rv)
	if d != nil {
		return nil, d
	}
	w.writes[t] = true
	refname := t.Name
	it := &item{refname: refname, relname: t.Name, relVisible: true, colsVisible: true, srcs: []*source{{table: t, ts: ts, known: w.a.columns[t]}}}
	if rv.Alias != nil {
		if len(rv.Alias.Colnames) > 0 {
			return nil, grants.Deny(grants.CodeParseError, "a column alias list is not allowed on the target of %s", verb)
		}
		it.refname = rv.Alias.Aliasname
	} else {
		it.schema = t.Schema
	}
	return it, nil
}

// targetColumn checks that a column the statement assigns is granted.
func (w *walker) targetColumn(verb string, target *item, rt *pg_query.ResTarget, lv *level) *grants.Denial {
	src := target.srcs[0]
	if src.restricted() && !src.ts.AllowsColumn(rt.Name) {
		return grants.Deny(grants.CodeOutOfScope, "%s sets column %s of %s, which is not granted (granted: %s); set only granted columns", verb, rt.Name, src.table, columnList(src.ts))
	}
	w.columns[columnKey(src.table, rt.Name)] = true
	for _, ind := range rt.Indirection {
		switch v := ind.GetNode().(type) {
		case *pg_query.Node_String_:
		case *pg_query.Node_AIndices:
			if d := w.expr(v.AIndices.Lidx, lv); d != nil {
				return d
			}
			if d := w.expr(v.AIndices.Uidx, lv); d != nil {
				return d
			}
		default:
			return unsupported(ind)
		}
	}
	return nil
}

// returning checks a RETURNING list in lv and describes its output.
func (w *walker) returning(list []*pg_query.Node, lv *level) (*source, *grants.Denial) {
	out := &source{cols: map[string]bool{}}
	for _, n := range list {
		rt, ok := n.GetNode().(*pg_query.Node_ResTarget)
		if !ok {
			return nil, unsupported(n)
		}
		if d := w.expr(rt.ResTarget.Val, lv); d != nil {
			return nil, d
		}
		if name, ok := outputName(rt.ResTarget); ok {
			out.cols[name] = true
		} else {
			out.open = true
		}
	}
	return out, nil
}

func (w *walker) insertStmt(s *pg_query.InsertStmt, parent *level) (*source, *grants.Denial) {
	if d := w.enter(); d != nil {
		return nil, d
	}
	defer w.leave()
	lv := &level{parent: parent}
	if d := w.withClause(s.WithClause, lv); d != nil {
		return nil, d
	}
	target, d := w.writeTarget("INSERT", s.Relation)
	if d != nil {
		return nil, d
	}
	src := target.srcs[0]
	if len(s.Cols) == 0 && src.restricted() {
		return nil, grants.Deny(grants.CodeOutOfScope, "INSERT without a column list fills every column of %s, and only %s are granted; list the columns", src.table, columnList(src.ts))
	}
	for _, c := range s.Cols {
		rt, ok := c.GetNode().(*pg_query.Node_ResTarget)
		if !ok {
			return nil, unsupported(c)
		}
		if d := w.targetColumn("INSERT", target, rt.ResTarget, lv); d != nil {
			return nil, d
		}
	}
	if s.SelectStmt != nil {
		sel, ok := s.SelectStmt.GetNode().(*pg_query.Node_SelectStmt)
		if !ok {
			return nil, unsupported(s.SelectStmt)
		}
		if _, d := w.selectStmt(sel.SelectStmt, lv); d != nil {
			return nil, d
		}
	}
	if oc := s.OnConflictClause; oc != nil {
		excluded := &item{refname: "excluded", relVisible: true, colsVisible: true, srcs: target.srcs}
		conflictLv := lv.with([]*item{target, excluded})
		if inf := oc.Infer; inf != nil {
			targetLv := lv.with([]*item{target})
			for _, e := range inf.IndexElems {
				ie, ok := e.GetNode().(*pg_query.Node_IndexElem)
				if !ok {
					return nil, unsupported(e)
				}
				el := ie.IndexElem
				if len(el.Opclass) > 0 || len(el.Opclassopts) > 0 {
					return nil, grants.Deny(grants.CodeForbiddenStatement, "operator classes in ON CONFLICT are not supported; name the columns only")
				}
				if el.Name != "" {
					if d := w.itemColumn(target, el.Name); d != nil {
						return nil, d
					}
				}
				if d := w.expr(el.Expr, targetLv); d != nil {
					return nil, d
				}
			}
			if d := w.expr(inf.WhereClause, targetLv); d != nil {
				return nil, d
			}
		}
		switch oc.Action {
		case pg_query.OnConflictAction_ONCONFLICT_NOTHING:
		case pg_query.OnConflictAction_ONCONFLICT_UPDATE:
			w.reads[src.table] = true
			for _, n := range oc.TargetList {
				rt, ok := n.GetNode().(*pg_query.Node_ResTarget)
				if !ok {
					return nil, unsupported(n)
				}
				if d := w.targetColumn("ON CONFLICT DO UPDATE", target, rt.ResTarget, conflictLv); d != nil {
					return nil, d
				}
				if d := w.assignedValue(rt.ResTarget.Val, conflictLv); d != nil {
					return nil, d
				}
			}
			if d := w.expr(oc.WhereClause, conflictLv); d != nil {
				return nil, d
			}
		default:
			return nil, grants.Deny(grants.CodeForbiddenStatement, "unsupported ON CONFLICT action")
		}
	}
	if len(s.ReturningList) > 0 {
		w.reads[src.table] = true
	}
	return w.returning(s.ReturningList, lv.with([]*item{target}))
}

func (w *walker) updateStmt(s *pg_query.UpdateStmt, parent *level) (*source, *grants.Denial) {
	if d := w.enter(); d != nil {
		return nil, d
	}
	defer w.leave()
	lv := &level{parent: parent}
	if d := w.withClause(s.WithClause, lv); d != nil {
		return nil, d
	}
	target, d := w.writeTarget("UPDATE", s.Relation)
	if d != nil {
		return nil, d
	}
	w.reads[target.srcs[0].table] = true
	// FROM items cannot see the target; it joins the namespace afterwards.
	for _, f := range s.FromClause {
		items, d := w.fromItem(f, lv, lv)
		if d != nil {
			return nil, d
		}
		lv.items = append(lv.items, items...)
	}
	lv.items = append([]*item{target}, lv.items...)
	for _, n := range s.TargetList {
		rt, ok := n.GetNode().(*pg_query.Node_ResTarget)
		if !ok {
			return nil, unsupported(n)
		}
		if d := w.targetColumn("UPDATE", target, rt.ResTarget, lv); d != nil {
			return nil, d
		}
		if d := w.assignedValue(rt.ResTarget.Val, lv); d != nil {
			return nil, d
		}
	}
	if d := w.expr(s.WhereClause, lv); d != nil {
		return nil, d
	}
	return w.returning(s.ReturningList, lv)
}

// assignedValue checks the right side of SET col = value, where DEFAULT and
// (a, b) = (SELECT ...) are allowed.
func (w *walker) assignedValue(n *pg_query.Node, lv *level) *grants.Denial {
	switch v := n.GetNode().(type) {
	case *pg_query.Node_SetToDefault:
		return nil
	case *pg_query.Node_MultiAssignRef:
		return w.expr(v.MultiAssignRef.Source, lv)
	}
	return w.expr(n, lv)
}

func (w *walker) deleteStmt(s *pg_query.DeleteStmt, parent *level) (*source, *grants.Denial) {
	if d := w.enter(); d != nil {
		return nil, d
	}
	defer w.leave()
	lv := &level{parent: parent}
	if d := w.withClause(s.WithClause, lv); d != nil {
		return nil, d
	}
	target, d := w.writeTarget("DELETE", s.Relation)
	if d != nil {
		return nil, d
	}
	src := target.srcs[0]
	if src.restricted() {
		return nil, grants.Deny(grants.CodeOutOfScope, "DELETE removes whole rows of %s, but the grant covers only columns %s; a DELETE needs a grant on the whole table", src.table, columnList(src.ts))
	}
	w.reads[src.table] = true
	for _, f := range s.UsingClause {
		items, d := w.fromItem(f, lv, lv)
		if d != nil {
			return nil, d
		}
		lv.items = append(lv.items, items...)
	}
	lv.items = append([]*item{target}, lv.items...)
	if d := w.expr(s.WhereClause, lv); d != nil {
		return nil, d
	}
	return w.returning(s.ReturningList, lv)
}

func (w *walker) mergeStmt(s *pg_query.MergeStmt, parent *level) *grants.Denial {
	if d := w.enter(); d != nil {
		return d
	}
	defer w.leave()
	lv := &level{parent: parent}
	if d := w.withClause(s.WithClause, lv); d != nil {
		return d
	}
	target, d := w.writeTarget("MERGE", s.Relation)
	if d != nil {
		return d
	}
	src := target.srcs[0]
	w.reads[src.table] = true
	items, d := w.fromItem(s.SourceRelation, lv, lv)
	if d != nil {
		return d
	}
	lv.items = append([]*item{target}, items...)
	if d := w.expr(s.JoinCondition, lv); d != nil {
		return d
	}
	for _, n := range s.MergeWhenClauses {
		wc, ok := n.GetNode().(*pg_query.Node_MergeWhenClause)
		if !ok {
			return unsupported(n)
		}
		c := wc.MergeWhenClause
		if d := w.expr(c.Condition, lv); d != nil {
			return d
		}
		switch c.CommandType {
		case pg_query.CmdType_CMD_UPDATE:
			for _, t := range c.TargetList {
				rt, ok := t.GetNode().(*pg_query.Node_ResTarget)
				if !ok {
					return unsupported(t)
				}
				if d := w.targetColumn("MERGE ... UPDATE", target, rt.ResTarget, lv); d != nil {
					return d
				}
				if d := w.assignedValue(rt.ResTarget.Val, lv); d != nil {
					return d
				}
			}
		case pg_query.CmdType_CMD_INSERT:
			if len(c.TargetList) == 0 && src.restricted() {
				return grants.Deny(grants.CodeOutOfScope, "MERGE ... INSERT without a column list fills every column of %s, and only %s are granted; list the columns", src.table, columnList(src.ts))
			}
			for _, t := range c.TargetList {
				rt, ok := t.GetNode().(*pg_query.Node_ResTarget)
				if !ok {
					return unsupported(t)
				}
				if d := w.targetColumn("MERGE ... INSERT", target, rt.ResTarget, lv); d != nil {
					return d
				}
			}
			for _, v := range c.Values {
				if d := w.assignedValue(v, lv); d != nil {
					return d
				}
			}
		case pg_query.CmdType_CMD_DELETE:
			if src.restricted() {
				return grants.Deny(grants.CodeOutOfScope, "MERGE ... DELETE removes whole rows of %s, but the grant covers only columns %s", src.table, columnList(src.ts))
			}
		case pg_query.CmdType_CMD_NOTHING:
		default:
			return grants.Deny(grants.CodeForbiddenStatement, "unsupported MERGE action")
		}
	}
	return nil
}
