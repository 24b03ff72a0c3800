// Package tools implements keyhole's four agent-facing tools —
// list_resources, request_access, database_query and release_access — as
// plain Go handlers: their argument and output schemas, the calls into
// grants, policy, the SQL gate and the executor, the audit records around
// every step, and results shaped for an LLM. It knows nothing of MCP; the
// mcpserver package adapts it to the protocol.
//
// # Guarantees
//
//   - A session starts with no privilege: database_query refuses with
//     NO_GRANT until request_access has granted something.
//   - Every query is checked twice before it runs: the grant is verified
//     (signature, audience, expiry, session binding, stored state) and the
//     SQL is analysed against the grant's scope.
//   - Audit before effect: a query runs only after its query.allowed record
//     was written; when the trail cannot be written the call is refused with
//     UNAVAILABLE.
//   - Rows are returned as data, fenced in the text rendering as untrusted,
//     never as instructions.
//   - The database is the second lock (WithRoles, grants/pgroles): on a
//     resource enforced with ephemeral-role, a grant exists only once its
//     own PostgreSQL role does, its queries run only on connections that
//     log in as that role — never falling back to keyhole's own — and
//     every end of a grant (release, session end, expiry, revocation) ends
//     the role, a running query failing with GRANT_REVOKED or
//     GRANT_EXPIRED. With set-role, queries run under SET LOCAL ROLE.
//
// # Errors
//
// Handlers return a *grants.Denial for every refusal an agent can act on
// (its Code is the stable contract); any other error is internal and must be
// reported to the agent only generically.
package tools
