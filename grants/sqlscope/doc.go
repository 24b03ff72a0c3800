// Package sqlscope decides, before a statement reaches PostgreSQL, whether it
// stays inside a grant's scope. It is the first of keyhole's two locks; the
// second is the database itself, which runs the statement as a role holding
// exactly the granted privileges.
//
// # Threat
//
// The SQL comes from an agent that may have been prompt-injected, so it is
// treated as written by an adversary who knows PostgreSQL well. Gates that
// look at SQL text have been bypassed by COMMIT; escaping a read-only
// transaction, writable CTEs, privileged functions in FROM, EXPLAIN ANALYZE of
// a DELETE, and views over forbidden tables. sqlscope therefore works on the
// parse tree PostgreSQL's own parser produces (pg_query), never on the text.
//
// # Guarantees
//
// An Analyzer allows a statement only if all of the following hold:
//
//   - The text is at most Options.MaxSQLBytes of valid UTF-8 without control
//     characters, brackets nest at most Options.MaxDepth deep, and it holds
//     at most MaxTokens words, operator characters and brackets. These
//     bounds are checked before the parser sees the text: pg_query is C code
//     in keyhole's process and recurses without a depth check (see
//     MaxTokens for the measurements).
//   - It is exactly one statement: SELECT (including VALUES and TABLE t), or
//     under a write grant INSERT, UPDATE, DELETE or MERGE. Every other
//     statement is refused, as are SELECT ... INTO, FOR UPDATE/SHARE, cursors
//     and, under a read grant, data-modifying WITH queries.
//   - Every node of the tree is of a kind the walker handles; any other kind
//     is refused (deny by default).
//   - Every relation, wherever it appears (FROM, JOIN, subqueries in any
//     clause, CTEs, LATERAL, set operations, TABLESAMPLE, UPDATE ... FROM,
//     DELETE ... USING, INSERT ... SELECT, ON CONFLICT, MERGE), is a CTE in
//     scope at that point or a table of the grant. Names resolve as
//     PostgreSQL resolves them under the search_path keyhole sets:
//     unqualified names that match a visible CTE are the CTE; otherwise
//     pg_catalog comes first (its relations are all named pg_*), then the
//     first schema of SearchPath(); a name that might fall through to a later
//     schema must be written qualified. Identifiers are compared byte for byte after
//     PostgreSQL's own folding. System catalogs, views, sequences and foreign
//     tables are relations like any other.
//   - For column-scoped tables every column reference resolves to a granted
//     column, in every clause including JOIN ... USING and RETURNING; *, t.*,
//     whole-row references and NATURAL JOIN are refused on them unless the
//     grant covers every column. Unqualified names resolve as in PostgreSQL:
//     innermost query level first, stopping at the first level where a FROM
//     item has the column. Where Options.TableColumns does not say which
//     columns a table has, a name that a column-scoped table might hold
//     ungranted is refused and the agent asked to qualify it. GROUP BY name
//     prefers a FROM column over a select-list alias, as PostgreSQL does.
//   - Every function is on an allow-list of side-effect-free pg_catalog
//     built-ins (or the resource's ExtraFunctions); every operator is a
//     pg_catalog operator; every cast names a built-in type. Names that a
//     user-defined object in a search_path schema also carries (Shadowing)
//     must be written with pg_catalog. PostgreSQL reads x.name as the call
//     name(x) when x has no field of that name, for a value of any type, so
//     (expression).name and a column of a function in FROM must name an
//     allowed built-in, a column the statement itself gives the function
//     (AS t(a, b)), or key, value or ordinality. generate_series, repeat,
//     lpad, rpad and format are bounded by their constant arguments.
//
// What the database runs on its own behalf (view bodies, triggers, column
// defaults, row-level security policies) is the admin's choice when granting
// the relation, and is not inspected. Resource use that no parse can bound,
// such as a recursive CTE that never ends, is left to statement_timeout;
// memory and temporary files a statement takes before its timeout (a value
// may grow to 1 GB through string_agg, replace or || in a recursive query,
// and a sort of a large cross join spills to disk) are left to the server's
// limits (temp_file_limit, the memory available to each backend).
//
// keyhole parses as PostgreSQL does with standard_conforming_strings on,
// its default. A server or role that turns it off reads backslashes in
// string literals differently, so the connection running agent queries
// must keep it on.
//
// # Example
//
//	a := sqlscope.NewAnalyzer(sqlscope.Options{SearchPath: []string{"public"}})
//	// the executor runs every query after SET LOCAL search_path = a.SearchPath()
//	an, err := a.Check("SELECT region, count(*) FROM public.customers GROUP BY 1", scope)
//	if d, ok := grants.AsDenial(err); ok {
//		// refuse with d.Code and d.Message
//	}
//	// an.Reads, an.Columns, an.Functions, an.Fingerprint go to the audit record.
//
// # Errors
//
// Check returns either an *Analysis or a *grants.Denial, never both, and no
// other error. Codes:
//
//   - INVALID_ARGUMENT: empty, oversized, not UTF-8, control characters, too
//     deep or too complex.
//   - PARSE_ERROR: PostgreSQL's parser rejects the text.
//   - MULTIPLE_STATEMENTS: more than one statement.
//   - FORBIDDEN_STATEMENT: a statement kind or clause keyhole does not run.
//   - FORBIDDEN_FUNCTION: a function, operator, cast or TABLESAMPLE method
//     not allowed, or a bounded function beyond its bound.
//   - OUT_OF_SCOPE: a relation or column the grant does not cover.
//   - WRITE_NOT_GRANTED: a write under a read grant.
//
// Results, refusals included, are cached per Analyzer by exact text and
// scope in a bounded LRU, so a repeated statement costs a map lookup.
package sqlscope
