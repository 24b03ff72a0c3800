package sqlscope

import (
	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/keyholehq/keyhole/grants"
)

// statementNames gives refused statement kinds the names an agent knows.
var statementNames = map[string]string{
	"TransactionStmt":            "transaction control (BEGIN, COMMIT, ROLLBACK, SAVEPOINT)",
	"VariableSetStmt":            "SET/RESET",
	"VariableShowStmt":           "SHOW",
	"CopyStmt":                   "COPY",
	"DoStmt":                     "DO",
	"CallStmt":                   "CALL",
	"ExplainStmt":                "EXPLAIN",
	"CreateTableAsStmt":          "CREATE TABLE AS / SELECT INTO",
	"PrepareStmt":                "PREPARE",
	"ExecuteStmt":                "EXECUTE",
	"DeallocateStmt":             "DEALLOCATE",
	"DeclareCursorStmt":          "DECLARE CURSOR",
	"FetchStmt":                  "FETCH/MOVE",
	"ClosePortalStmt":            "CLOSE",
	"ListenStmt":                 "LISTEN",
	"UnlistenStmt":               "UNLISTEN",
	"NotifyStmt":                 "NOTIFY",
	"LockStmt":                   "LOCK",
	"VacuumStmt":                 "VACUUM/ANALYZE",
	"TruncateStmt":               "TRUNCATE",
	"GrantStmt":                  "GRANT/REVOKE",
	"GrantRoleStmt":              "GRANT/REVOKE role",
	"DropStmt":                   "DROP",
	"CreateStmt":                 "CREATE TABLE",
	"AlterTableStmt":             "ALTER TABLE",
	"IndexStmt":                  "CREATE INDEX",
	"ViewStmt":                   "CREATE VIEW",
	"CreateFunctionStmt":         "CREATE FUNCTION",
	"CreateRoleStmt":             "CREATE ROLE",
	"AlterRoleStmt":              "ALTER ROLE",
	"DiscardStmt":                "DISCARD",
	"LoadStmt":                   "LOAD",
	"CheckPointStmt":             "CHECKPOINT",
	"RefreshMatViewStmt":         "REFRESH MATERIALIZED VIEW",
	"AlterSystemStmt":            "ALTER SYSTEM",
	"ConstraintsSetStmt":         "SET CONSTRAINTS",
	"CreateExtensionStmt":        "CREATE EXTENSION",
	"ReindexStmt":                "REINDEX",
	"ClusterStmt":                "CLUSTER",
	"CommentStmt":                "COMMENT",
	"SecLabelStmt":               "SECURITY LABEL",
	"CreateSchemaStmt":           "CREATE SCHEMA",
	"CreateSeqStmt":              "CREATE SEQUENCE",
	"AlterSeqStmt":               "ALTER SEQUENCE",
	"RenameStmt":                 "ALTER ... RENAME",
	"CreatedbStmt":               "CREATE DATABASE",
	"DropdbStmt":                 "DROP DATABASE",
	"CreateTrigStmt":             "CREATE TRIGGER",
	"RuleStmt":                   "CREATE RULE",
	"DropRoleStmt":               "DROP ROLE",
	"AlterDefaultPrivilegesStmt": "ALTER DEFAULT PRIVILEGES",
	"ReturnStmt":                 "RETURN",
	"PlassignStmt":               "PL/pgSQL assignment",
}

// forbiddenStatement refuses a statement kind keyhole does not run.
func forbiddenStatement(n *pg_query.Node) *grants.Denial {
	kind := nodeKind(n)
	name, ok := statementNames[kind]
	if !ok {
		name = kind
	}
	return grants.Deny(grants.CodeForbiddenStatement, "%s is not allowed; keyhole runs only SELECT (with VALUES and TABLE), and INSERT, UPDATE, DELETE and MERGE under a write grant", name)
}
