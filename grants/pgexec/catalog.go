package pgexec

import (
	"context"
	"fmt"

	"github.com/keyholehq/keyhole/config"
	"github.com/keyholehq/keyhole/grants"
)

// Catalog is what the SQL gate must know about a resource's database to
// resolve names as PostgreSQL does.
type Catalog struct {
	// Functions and Operators are the names of user-defined functions and
	// operators in the search-path schemas: an unqualified call with such a
	// name might resolve to them instead of the built-in.
	Functions map[string]bool
	Operators map[string]bool
	// Columns lists every column of the resource's tables, in order.
	Columns map[grants.Table][]string
}

// Catalog reads the resource's catalog as keyhole's own role sees it.
func (e *Executor) Catalog(ctx context.Context, res *config.Resource, searchPath []string) (*Catalog, error) {
	p, err := e.pool(ctx, res)
	if err != nil {
		return nil, err
	}
	c := &Catalog{Functions: map[string]bool{}, Operators: map[string]bool{}, Columns: map[grants.Table][]string{}}
	rows, err := p.Query(ctx, `
		SELECT 'f', p.proname FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
		WHERE n.nspname = ANY($1) AND n.nspname NOT IN ('pg_catalog', 'information_schema')
		UNION
		SELECT 'o', o.oprname FROM pg_catalog.pg_operator o JOIN pg_catalog.pg_namespace n ON n.oid = o.oprnamespace
		WHERE n.nspname = ANY($1) AND n.nspname NOT IN ('pg_catalog', 'information_schema')`, searchPath)
	if err != nil {
		return nil, fmt.Errorf("%w: resource %s: catalog: %s", ErrUnavailable, res.Name, safeConnError(err))
	}
	for rows.Next() {
		var kind, name string
		if err := rows.Scan(&kind, &name); err != nil {
			rows.Close()
			return nil, fmt.Errorf("pgexec: catalog: %w", err)
		}
		if kind == "f" {
			c.Functions[name] = true
		} else {
			c.Operators[name] = true
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%w: resource %s: catalog: %s", ErrUnavailable, res.Name, safeConnError(err))
	}
	types, err := e.ColumnTypes(ctx, res)
	if err != nil {
		return nil, err
	}
	for t, cols := range types {
		for _, col := range cols {
			c.Columns[t] = append(c.Columns[t], col.Name)
		}
	}
	return c, nil
}
