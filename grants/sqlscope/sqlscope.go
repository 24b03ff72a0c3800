package sqlscope

import (
	"github.com/keyholehq/keyhole/grants"
)

// Options configure one resource's analysis.
type Options struct {
	// SearchPath is the search_path keyhole fixes with SET LOCAL for every query
	// (without pg_catalog, which PostgreSQL searches first implicitly). Default ["public"].
	SearchPath []string
	// ExtraFunctions are admin-allowed functions for this resource, as written in config:
	// "name" (built-in, pg_catalog) or "schema.name".
	ExtraFunctions []string
	// Shadowing lists user-defined functions and operators living in SearchPath schemas
	// (loaded from the database's catalog by the executor; may be nil). An unqualified call
	// whose name appears here must be refused even if the name is on the built-in allow-list,
	// because PostgreSQL might resolve it to the user-defined overload.
	Shadowing *Shadowing
	// MaxSQLBytes bounds the text handed to the parser; default 64 KiB.
	MaxSQLBytes int
	// MaxDepth bounds the nesting of the statement; default DefaultMaxDepth.
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
	Kind        string         // "select", "insert", "update", "delete"
	Reads       []grants.Table // sorted, deduplicated
	Writes      []grants.Table // sorted, deduplicated
	Columns     []string       // "schema.table.column", sorted
	Functions   []string       // "schema.name", sorted
	Fingerprint string         // pg_query fingerprint (hex)
}
