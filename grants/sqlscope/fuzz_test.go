package sqlscope

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v5"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/keyholehq/keyhole/grants"
)

// handledKinds are the parse-tree message kinds the walker understands. An
// allowed statement whose tree holds any other kind was not fully walked.
var handledKinds = setOf(`
ParseResult RawStmt Node List String Integer Float Boolean BitString A_Const
SelectStmt InsertStmt UpdateStmt DeleteStmt MergeStmt MergeWhenClause WithClause CommonTableExpr
ResTarget ColumnRef A_Star RangeVar Alias RangeSubselect RangeFunction JoinExpr RangeTableSample
ColumnDef FuncCall WindowDef SortBy A_Expr BoolExpr NullTest BooleanTest CaseExpr CaseWhen
CoalesceExpr MinMaxExpr A_ArrayExpr RowExpr GroupingFunc GroupingSet A_Indirection A_Indices
SubLink NamedArgExpr SetToDefault MultiAssignRef TypeCast TypeName CollateClause ParamRef
SQLValueFunction OnConflictClause InferClause IndexElem
`)

// treeFacts walks a parse tree generically (protoreflect), independently of
// the walker: the message kinds it holds, its relations, the CTE names it
// defines and the functions it calls.
type treeFacts struct {
	kinds     map[string]bool
	relations []*pg_query.RangeVar
	ctes      map[string]bool
	funcs     [][]string
	fields    []string // names in (value).name, which may call name(value)
}

func collect(m protoreflect.Message, f *treeFacts) {
	f.kinds[string(m.Descriptor().Name())] = true
	switch v := m.Interface().(type) {
	case *pg_query.RangeVar:
		f.relations = append(f.relations, v)
	case *pg_query.CommonTableExpr:
		f.ctes[v.Ctename] = true
	case *pg_query.FuncCall:
		var parts []string
		for _, n := range v.Funcname {
			parts = append(parts, n.GetString_().GetSval())
		}
		f.funcs = append(f.funcs, parts)
	case *pg_query.A_Indirection:
		for _, n := range v.Indirection {
			if s := n.GetString_(); s != nil {
				f.fields = append(f.fields, s.Sval)
			}
		}
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			for i := 0; i < v.List().Len(); i++ {
				collect(v.List().Get(i).Message(), f)
			}
		case fd.Message() != nil && !fd.IsMap():
			collect(v.Message(), f)
		}
		return true
	})
}

// accountFor fails t if an allowed analysis does not cover the tree.
func accountFor(t *testing.T, sql string, sc grants.Scope, an *Analysis) {
	tree, err := pg_query.Parse(sql)
	if err != nil {
		t.Fatalf("allowed but does not parse: %v", err)
	}
	f := &treeFacts{kinds: map[string]bool{}, ctes: map[string]bool{}}
	collect(tree.ProtoReflect(), f)
	for k := range f.kinds {
		if !handledKinds[k] {
			t.Fatalf("allowed a tree holding %s: %q", k, sql)
		}
	}
	touched := append(slices.Clone(an.Reads), an.Writes...)
	for _, rv := range f.relations {
		if rv.Schemaname == "" && f.ctes[rv.Relname] {
			continue // may name a CTE; the walker resolved it
		}
		t2 := grants.Table{Schema: rv.Schemaname, Name: rv.Relname}
		if t2.Schema == "" {
			t2.Schema = "public"
			if strings.HasPrefix(t2.Name, "pg_") {
				t2.Schema = "pg_catalog"
			}
		}
		if !slices.Contains(touched, t2) {
			t.Fatalf("allowed %q but its relation %s is not in the analysis %v", sql, t2, touched)
		}
		if _, ok := sc.Lookup(t2); !ok {
			t.Fatalf("allowed %q with out-of-scope relation %s", sql, t2)
		}
	}
	for _, fn := range f.funcs {
		name := strings.Join(fn, ".")
		if len(fn) == 1 {
			name = "pg_catalog." + fn[0]
		}
		if !slices.Contains(an.Functions, name) {
			t.Fatalf("allowed %q but function %s is not in the analysis %v", sql, name, an.Functions)
		}
	}
	for _, name := range f.fields {
		if !fieldNames[name] && (!builtinFunctions[name] || boundedFunctions[name]) {
			t.Fatalf("allowed %q but (value).%s may call the function %s", sql, name, name)
		}
	}
	if sc.Privilege == grants.Read && len(an.Writes) > 0 {
		t.Fatalf("allowed writes under a read grant: %q", sql)
	}
}

func FuzzCheck(f *testing.F) {
	for _, rw := range adversarial {
		if len(rw.sql) < 2000 {
			f.Add(rw.sql)
		}
	}
	for _, q := range analystQueries {
		f.Add(q)
	}
	for _, rw := range allowedEdges {
		f.Add(rw.sql)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		for _, sc := range []grants.Scope{readScope, writeScope} {
			a := NewAnalyzer(Options{})
			an1, err1 := a.Check(sql, sc)
			an2, err2 := NewAnalyzer(Options{}).Check(sql, sc)
			an3, err3 := a.Check(sql, sc) // cached
			if !reflect.DeepEqual(an1, an2) || !reflect.DeepEqual(err1, err2) || !reflect.DeepEqual(an1, an3) || !reflect.DeepEqual(err1, err3) {
				t.Fatalf("not deterministic for %q: %v/%v/%v", sql, err1, err2, err3)
			}
			if (an1 == nil) == (err1 == nil) {
				t.Fatalf("want exactly one of analysis and error for %q", sql)
			}
			if err1 != nil {
				d, ok := grants.AsDenial(err1)
				if !ok {
					t.Fatalf("error is not a denial: %v", err1)
				}
				if strings.Contains(d.Message, "internal error") {
					t.Fatalf("the walker failed on %q", sql)
				}
				continue
			}
			accountFor(t, sql, sc, an1)
		}
	})
}
