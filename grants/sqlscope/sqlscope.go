package sqlscope

import (
	"github.com/keyholehq/keyhole/grants"
)

// Options configure one resource's analysis.
type Options struct {
	// SearchPath is the search_path keyhole fixes with SET LOCAL for every query
	// (without pg_catalog, which PostgreSQL searches first implicitly). Default
	// ["public"]. Set exactly Analyzer.SearchPath() on the connection.
	SearchPath []string
	// ExtraFunctions are admin-allowed functions for this resource, as written in config:
	// "name" (built-in, pg_catalog) or "schema.name".
	ExtraFunctions []string
	// Shadowing lists user-defined functions and operators living in SearchPath schemas
	// (loaded from the database's catalog by the executor; may be nil). An unqualified call
	// whose name appears here must be refused even if the name is on the built-in allow-list,
	// because PostgreSQL might resolve it to the user-defined overload.
	Shadowing *Shadowing
	// TableColumns lists every column of relations of this resource as the
	// database's catalog has them (loaded by the executor like Shadowing; may
	// be nil or partial). Where a relation's columns are known, unqualified
	// column names resolve exactly as PostgreSQL resolves them; where they are
	// not, a name that a column-scoped table might hold ungranted is refused
	// and the agent asked to qualify it. System columns need not be listed.
	TableColumns map[grants.Table][]string
	// MaxSQLBytes bounds the text handed to the parser; default 64 KiB.
	MaxSQLBytes int
	// MaxDepth bounds how deeply brackets nest in the text; default
	// DefaultMaxDepth. Parse-tree depth is bounded separately by MaxTokens.
	MaxDepth int
}

// Shadowing names user-defined objects that could capture an unqualified
// built-in name.
type Shadowing struct {
	Functions map[string]bool // lower-case function name
	Operators map[string]bool // operator symbol
}

// Analysis is what an allowed statement reads and writes.
type Analysis struct {
	Kind   string         // "select", "insert", "update", "delete", "merge"
	Reads  []grants.Table // sorted, deduplicated
	Writes []grants.Table // sorted, deduplicated
	// Columns are the base-table columns the statement names, where keyhole
	// can attribute them ("schema.table.*" for a star): always for
	// column-scoped tables; an unqualified name over several fully granted
	// tables of unknown columns is not listed.
	Columns     []string // "schema.table.column", sorted
	Functions   []string // "schema.name", sorted
	Fingerprint string   // pg_query fingerprint (hex)
}
