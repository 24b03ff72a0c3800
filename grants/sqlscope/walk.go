package sqlscope

import (
	"fmt"
	"sort"

	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/keyholehq/keyhole/grants"
)

// walker checks one statement; it refuses every node kind it does not know.
type walker struct {
	scope grants.Scope
	opts  *Options
	reads map[grants.Table]bool
}

func walkStatement(stmt *pg_query.Node, scope grants.Scope, opts *Options) (*Analysis, *grants.Denial) {
	w := &walker{scope: scope, opts: opts, reads: map[grants.Table]bool{}}
	sel, ok := stmt.Node.(*pg_query.Node_SelectStmt)
	if !ok {
		return nil, grants.Deny(grants.CodeForbiddenStatement, "only SELECT is allowed")
	}
	if d := w.selectStmt(sel.SelectStmt); d != nil {
		return nil, d
	}
	an := &Analysis{Kind: "select"}
	for t := range w.reads {
		an.Reads = append(an.Reads, t)
	}
	sort.Slice(an.Reads, func(i, j int) bool { return an.Reads[i].String() < an.Reads[j].String() })
	return an, nil
}

func (w *walker) selectStmt(s *pg_query.SelectStmt) *grants.Denial {
	if s.Op != pg_query.SetOperation_SETOP_NONE || s.WithClause != nil || s.IntoClause != nil ||
		len(s.LockingClause) > 0 || len(s.ValuesLists) > 0 || len(s.GroupClause) > 0 ||
		s.HavingClause != nil || len(s.WindowClause) > 0 || len(s.DistinctClause) > 0 ||
		len(s.SortClause) > 0 || s.LimitCount != nil || s.LimitOffset != nil {
		return grants.Deny(grants.CodeForbiddenStatement, "this form of SELECT is not supported yet")
	}
	for _, f := range s.FromClause {
		rv, ok := f.Node.(*pg_query.Node_RangeVar)
		if !ok {
			return grants.Deny(grants.CodeForbiddenStatement, "unsupported FROM item")
		}
		t := grants.Table{Schema: rv.RangeVar.Schemaname, Name: rv.RangeVar.Relname}
		if t.Schema == "" {
			t.Schema = w.opts.SearchPath[0]
		}
		if _, ok := w.scope.Lookup(t); !ok {
			return grants.Deny(grants.CodeOutOfScope, "table %s is not in this grant's scope", t)
		}
		w.reads[t] = true
	}
	for _, n := range s.TargetList {
		if d := w.expr(n); d != nil {
			return d
		}
	}
	return w.expr(s.WhereClause)
}

func (w *walker) expr(n *pg_query.Node) *grants.Denial {
	if n == nil {
		return nil
	}
	switch v := n.Node.(type) {
	case *pg_query.Node_ResTarget:
		return w.expr(v.ResTarget.Val)
	case *pg_query.Node_AConst, *pg_query.Node_ColumnRef:
		return nil
	default:
		return grants.Deny(grants.CodeForbiddenStatement, "unsupported expression %s", fmt.Sprintf("%T", v))
	}
}
