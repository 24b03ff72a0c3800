// Package grants is keyhole's domain of access: what a grant is, how it is
// signed, checked, stored and ended. It knows nothing of MCP.
//
// A grant names one resource, one privilege (read or write), the tables
// (optionally columns) it covers, and a short validity window. It is a
// compact JWS signed with keyhole's Ed25519 key (alg EdDSA only, typ
// keyhole-grant+jwt), bound to one session by its cnf claim. Agents hold
// only its id; the token stays in keyhole's store and is re-verified on
// every use by [Manager.Authorize]: signature, issuer, audience, validity
// window against the manager's (injectable) clock, session binding, and the
// stored state, so a release or a revocation made by any keyhole process
// sharing the store takes effect on the next call.
//
// # The threat it addresses
//
// An agent is prompt-injectable, so whatever it holds may be handed to an
// attacker. Grants therefore carry no standing power: they are short, scoped,
// useless in any other session ([ErrNotYours]), and cannot be forged or
// widened without keyhole's private key, which never leaves the data
// directory (mode 0600) and never appears in logs or errors.
//
// Subpackages: policy decides requests from configuration; sqlscope is the
// SQL gate; pgexec runs a query under a grant's limits; sqlitestore keeps
// grant records for every process on the machine.
//
// # Example
//
//	keys, _ := grants.LoadOrCreateKeys(dataDir)
//	m := grants.NewManager(keys, store, "spiffe://example.org/keyhole", nil)
//	rec, _ := m.Issue(ctx, session, "analytics", scope, 5*time.Minute, "policy:auto")
//	gs, err := m.Authorize(ctx, session.ID, "analytics", rec.ID)
//	if d, ok := grants.AsDenial(err); ok { /* d.Code: NO_GRANT, GRANT_EXPIRED, GRANT_NOT_YOURS… */ }
//
// # Errors
//
// Token verification returns sentinels to test with errors.Is:
// [ErrInvalidGrant], [ErrInvalidIdentity], [ErrExpired], [ErrNotYetValid],
// [ErrWrongAudience], [ErrWrongIssuer], [ErrNotYours]. [Manager] turns them
// into a *[Denial] with a stable [Code] and a message an agent can act on;
// store failures are wrapped with the "grants:" prefix. [ErrNotFound] comes
// from a [Store].
package grants
