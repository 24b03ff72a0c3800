// Package sqlscope decides whether one SQL statement stays inside a grant's
// scope, using PostgreSQL's own parser (pg_query).
package sqlscope
