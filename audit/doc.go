// Package audit keeps keyhole's audit trail: one record per step an agent or
// an admin takes (session start and end, access requests and decisions,
// grant state changes, query attempts and outcomes), chained by hash, signed
// at checkpoints, and durable before the step it records takes effect.
//
// # What it guarantees
//
//   - Tamper evidence. Every record carries seq, prev and hash; periodic
//     checkpoints sign the chain head with keyhole's Ed25519 key. Verify
//     names the first record that was changed, removed, inserted or
//     reordered, a file cut in the middle of a record, and a checkpoint
//     whose signature fails.
//   - Audit before effect. Record returns only once the record is on stable
//     storage; callers run a query only after its query.allowed record was
//     accepted, and refuse with UNAVAILABLE when Record fails.
//   - One chain, however many writers: several keyhole processes on one
//     machine append to one trail without forking it.
//
// # Threat model
//
// The trail defends against someone who can write the trail files but does
// not hold keyhole's signing key: an attacker on the host after the fact, or
// an admin tidying up. They cannot change, drop, add or reorder a record
// covered by a checkpoint without Verify failing, because every checkpoint
// signs the hash of the whole chain before it. Limits, stated plainly:
//
//   - Records after the last checkpoint are protected by the chain only:
//     someone can rewrite or drop them and recompute the hashes. Verify
//     reports them as an unsealed tail (exit 3); a keyhole that shuts down
//     cleanly leaves none, and CheckpointEvery/CheckpointInterval bound how
//     many there can be while it runs.
//   - Cutting the trail exactly after a checkpoint looks like a trail that
//     stopped there. Exporting records to a SIEM as they are written
//     (`keyhole audit export`, `tail -f --json`) anchors the head elsewhere.
//   - Whoever holds the signing key can rewrite everything.
//
// Public keys come from jwks.json in the data directory (kept by the grants
// key ring, which never drops a key, so checkpoints verify after a key
// rotation), never from the trail itself.
//
// # Record encoding
//
// A trail is a file of lines, one JSON object per line, each ending in
// "\n". A record's canonical bytes are the JSON encoding of Event by
// encoding/json, in struct field order, without HTML escaping and without
// whitespace, with Time in UTC and Hash the empty string; Prev and Hash are
// always the last two members. Its hash is
//
//	hash = SHA-256(prev || canonical)
//
// where prev is the 32 raw bytes of the previous record's hash (nothing for
// seq 1), and hash and prev are written as 64 lowercase hex digits. The line
// on the trail is the canonical bytes with the hex digits filled into
// "hash". A reader therefore recovers the canonical bytes from the line
// itself by emptying the last string: verification never re-encodes a
// record, so it is independent of the Go version and of fields added later;
// it reads seq, event and prev from their fixed places (a checkpoint is
// decoded in full) and lets the hash vouch for every other byte.
// TestCanonicalEncoding pins the encoding byte for byte.
//
// # Checkpoints
//
// A checkpoint is a record with event "checkpoint" whose checkpoint member
// states the seq and hash of the record before it, the key id (the RFC 7638
// thumbprint of the public key) and an Ed25519 signature, base64url, over
//
//	"keyhole.audit.checkpoint.v1\n" + {"seq":N,"head":"<hex>","time":"<RFC 3339>","kid":"<kid>"}
//
// with time the checkpoint record's own time. The writer checkpoints after
// CheckpointEvery records or CheckpointInterval, whichever comes first, at
// Close, and around each rotation.
//
// # Durability
//
// With FsyncAlways each record is synced before Record returns. With
// FsyncBatch, records are written as they come, and a Record waits for a
// sync that started after its own write: the first waiter to find its record
// unsynced syncs the file, and everyone who wrote meanwhile shares the next
// sync (group commit). No record is acknowledged before a sync covers it,
// and a record whose sync failed is reported failed.
//
// A write that fails (disk full, file size limit, permission lost) is cut
// back off the file so no partial line remains; the Log then reports
// ErrUnavailable for every Record without touching the disk, logs it once on
// the operational logger, and tries the disk again after ProbeInterval:
// the next successful write resumes the trail.
//
// # Several processes
//
// Writers serialize on an flock of Path+".lock" held only while they read
// the chain head and append one record (or a record and a checkpoint), not
// while they sync. Under the lock a writer checks whether the file at Path
// is still the one it has open and whether its size is what it last wrote;
// if not, another process appended or rotated, and it re-reads the last
// record (seq and hash) before appending. One lock rather than one chain per
// process keeps a single seq order that Verify and readers can follow, and
// costs a few system calls per record. A torn last line (a crash in the
// middle of a write, which was never acknowledged) is cut off under the
// lock before appending.
//
// # Rotation
//
// When the file reaches RotateBytes, or its first record is RotateAge old,
// the writer appends a checkpoint, syncs, renames the file to
// base-<UTC time>.ext (audit.jsonl becomes
// audit-20250102T030405.000000000Z.jsonl) and starts a new file whose first
// record is a checkpoint of the same head. The chain continues: the new
// file's first record has the seq after, and the prev equal to the hash of,
// the old file's last. TrailFiles lists a trail's files in chain order and
// Verify checks across them; a rotated file may be verified alone (the chain
// then starts at its opening checkpoint).
//
// # Why not a slog.Handler
//
// The trail is "written through log/slog" in spirit — one JSON object per
// line, a structured Event, slog.LogValuer on Event for operational logs —
// but Record does not go through a slog.Logger. A Logger drops the error
// its handler returns, and audit before effect depends on that error
// reaching the caller; and slog's JSON handler does not promise a byte-exact
// encoding, which a hash chain needs. A Handler that only Record may call
// would add a layer and no behaviour.
//
// # Reading
//
// Scan and Tail read records in order (Tail follows rotation), Filter
// selects them, Format renders one per line. DigestResult, CapRows and
// CapMeta produce the result digest, the capped rows and the capped _meta
// that callers put in Result and Event.Meta.
//
// # Verify exit codes
//
// `keyhole audit verify` exits 0 (ExitIntact) when the chain is intact and
// ends with a checkpoint, 1 (ExitTampered) when it names a fault, 2
// (ExitUsage) when the arguments, a file or the JWKS cannot be used, and 3
// (ExitUnsealed) when the chain is intact but records follow the last
// checkpoint.
//
// # Errors
//
// Record returns an error wrapping ErrUnavailable (and the cause, e.g.
// syscall.ENOSPC) when the trail cannot be written or the Log is closed:
// callers refuse the call. It returns a plain "audit: …" error for an event
// it will not write (no name, a checkpoint, a Meta that is not JSON): a bug
// in the caller, which should refuse too. Verify returns an error only for
// files it cannot read; what it finds wrong is in Report.Problem, a
// *Problem that is also an error.
package audit
