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
//
// # Errors
//
// Handlers return a *grants.Denial for every refusal an agent can act on
// (its Code is the stable contract); any other error is internal and must be
// reported to the agent only generically.
package tools
