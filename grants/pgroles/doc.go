// Package pgroles is keyhole's second lock: every grant of a resource whose
// enforcement is ephemeral-role runs as a PostgreSQL role of its own, which
// holds exactly the grant's privileges and lives exactly as long as the
// grant.
//
// # Threat
//
// keyhole's SQL gate (grants/sqlscope) decides what a statement may touch.
// Should it ever be wrong — a parser corner case, a function it misjudges —
// the statement must still fail, because the database itself refuses it.
// A single hand-made read-only user cannot give that: it sees every table
// any agent may ever be granted. A per-grant role sees only its grant.
//
// # Guarantees
//
// Provisioner.Create makes, in one transaction:
//
//	CREATE ROLE kh_<20 base32 chars> LOGIN PASSWORD '<SCRAM-SHA-256 verifier>'
//	  VALID UNTIL '<grant expiry>' CONNECTION LIMIT 3
//	  NOSUPERUSER NOINHERIT NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
//	COMMENT ON ROLE <role> IS 'keyhole holder <advisory lock key>';
//	GRANT <role> TO CURRENT_USER;            -- so keyhole can end its sessions
//	ALTER ROLE <role> SET default_transaction_read_only = on;   -- read grants
//	ALTER ROLE <role> SET statement_timeout / lock_timeout /
//	  idle_in_transaction_session_timeout / search_path;
//	GRANT USAGE ON SCHEMA s; GRANT SELECT [(columns)] ON TABLE s.t;
//	-- write: SELECT, INSERT, UPDATE, DELETE (column-scoped: SELECT, INSERT,
//	-- UPDATE on the columns, no DELETE) and USAGE on the tables' serial sequences
//
// Around it:
//
//   - The role name is the prefix and 100 bits of SHA-256 over the grant's
//     signed token (RoleName): unpredictable, never built from agent input,
//     and derivable by every keyhole process sharing the grant store, which
//     is how reaping knows which roles a live grant owns.
//   - The password is 32 random bytes that exist only in this process's
//     memory, in the configuration of the grant's pgx pool (built from the
//     resource's DSN with user and password replaced, and none of the DSN's
//     run-time parameters). PostgreSQL receives only the SCRAM-SHA-256
//     verifier, computed here, so statement logging never sees the password.
//   - A grant's queries run on its own pool (at most PoolConns connections);
//     nothing else uses the role.
//   - Ending a grant (Keeper.End: release, revocation, session end; a timer
//     at the grant's expiry; Keeper.Sweep for grants ended by another
//     process) makes the role NOLOGIN, terminates every backend of the role
//     (running queries fail with SQLSTATE 57P01), waits until
//     pg_stat_activity shows none, closes the pool, revokes what was granted
//     and drops the role.
//   - VALID UNTIL is the backstop for a keyhole that dies; Reap, run at
//     start-up, drops every role of the prefix that no live grant owns. A
//     grant is live when it is active and unexpired in the store and the
//     process that created its role still runs: each process holds a
//     session-level advisory lock on one connection (the holder), every role
//     it creates names that lock in its comment, and the lock goes when the
//     process does (kill -9 included). Reap lists roles before it reads the
//     store, and a role is always created after its grant is stored, so a
//     concurrent grant's role is never reaped.
//
// keyhole's own role needs CREATEROLE and the right to grant what it hands
// out (grant option or ownership), never superuser; Check verifies that and
// warns about privileges PUBLIC holds on the resource's objects, which every
// role inherits and no per-grant role can shed.
//
// A role prefix is a namespace owned by one keyhole deployment (one grant
// store): two deployments sharing a cluster and a prefix would reap each
// other's roles. Give each its own role_prefix.
//
// # Example
//
//	k, err := pgroles.NewKeeper(cfg, manager.Now, logger)
//	...
//	rec, _ := manager.Issue(ctx, sess, "shop", scope, 5*time.Minute, "policy:auto")
//	if err := k.Provision(ctx, rec, "keyhole "+rec.ID); err != nil { ... }
//	pool := k.Pool(rec.ID) // run the grant's queries here
//	...
//	_ = k.End(ctx, rec) // after the store records the end
//
// # Errors
//
// Errors are wrapped with the "pgroles:" prefix and never carry a DSN, a
// password, a verifier or a statement: PostgreSQL errors appear as SQLSTATE
// and message, connection failures generically. ErrNotFound means a role no
// longer exists; ErrClosed that the Keeper was closed. Callers decide what
// an agent sees (keyhole answers UNAVAILABLE when a role cannot be created).
package pgroles
