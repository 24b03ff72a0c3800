// Package sqlitestore keeps grant records in a SQLite file in keyhole's data
// directory. WAL mode and a busy timeout let several keyhole processes on one
// machine (several stdio clients and the admin CLI) share it safely.
package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/keyholehq/keyhole/grants"
	_ "modernc.org/sqlite" // pure-Go SQLite driver: no second cgo dependency
)

// Store is a grants.Store backed by SQLite.
type Store struct{ db *sql.DB }

var _ grants.Store = (*Store)(nil)

const schema = `
CREATE TABLE IF NOT EXISTS grants (
	id         TEXT PRIMARY KEY,
	session_id TEXT NOT NULL,
	agent      TEXT NOT NULL,
	resource   TEXT NOT NULL,
	scope      TEXT NOT NULL,
	token      TEXT NOT NULL,
	state      TEXT NOT NULL,
	issued_at  INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	ended_at   INTEGER NOT NULL DEFAULT 0,
	ended_by   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS grants_session ON grants(session_id, state);
CREATE INDEX IF NOT EXISTS grants_due ON grants(state, expires_at);
`

// Open opens (creating if needed) the store at path, mode 0600.
func Open(path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sqlitestore: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: %w", err)
	}
	f.Close()
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: %w", err)
	}
	db.SetMaxOpenConns(4)
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlitestore: schema: %w", err)
	}
	return &Store{db: db}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Put inserts a new record.
func (s *Store) Put(ctx context.Context, r *grants.Record) error {
	scope, err := json.Marshal(r.Scope)
	if err != nil {
		return fmt.Errorf("sqlitestore: %w", err)
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO grants
		(id, session_id, agent, resource, scope, token, state, issued_at, expires_at, ended_at, ended_by)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.SessionID, r.Agent, r.Resource, string(scope), r.Token, string(r.State),
		r.IssuedAt.UnixNano(), r.ExpiresAt.UnixNano(), unixOrZero(r.EndedAt), r.EndedBy)
	if err != nil {
		return fmt.Errorf("sqlitestore: put: %w", err)
	}
	return nil
}

const columns = `id, session_id, agent, resource, scope, token, state, issued_at, expires_at, ended_at, ended_by`

// Get returns the record with id, or grants.ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (*grants.Record, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+columns+` FROM grants WHERE id = ?`, id)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: get: %w", err)
	}
	recs, err := scan(rows)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, grants.ErrNotFound
	}
	return recs[0], nil
}

// List returns the records matching f, newest first.
func (s *Store) List(ctx context.Context, f grants.Filter) ([]*grants.Record, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+columns+` FROM grants
		WHERE (?1 = '' OR session_id = ?1) AND (?2 = '' OR resource = ?2) AND (?3 = '' OR state = ?3)
		ORDER BY issued_at DESC, id`, f.SessionID, f.Resource, string(f.State))
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: list: %w", err)
	}
	return scan(rows)
}

// End moves an active grant to a final state, once.
func (s *Store) End(ctx context.Context, id string, to grants.State, at time.Time, by string) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE grants SET state = ?, ended_at = ?, ended_by = ?
		WHERE id = ? AND state = 'active'`, string(to), at.UnixNano(), by, id)
	if err != nil {
		return false, fmt.Errorf("sqlitestore: end: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("sqlitestore: end: %w", err)
	}
	return n == 1, nil
}

// Due lists active grants whose expiry has come.
func (s *Store) Due(ctx context.Context, now time.Time) ([]*grants.Record, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+columns+` FROM grants
		WHERE state = 'active' AND expires_at <= ? ORDER BY expires_at`, now.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: due: %w", err)
	}
	return scan(rows)
}

func scan(rows *sql.Rows) ([]*grants.Record, error) {
	defer rows.Close()
	var out []*grants.Record
	for rows.Next() {
		var r grants.Record
		var scope, state string
		var issued, expires, ended int64
		if err := rows.Scan(&r.ID, &r.SessionID, &r.Agent, &r.Resource, &scope, &r.Token, &state,
			&issued, &expires, &ended, &r.EndedBy); err != nil {
			return nil, fmt.Errorf("sqlitestore: scan: %w", err)
		}
		if err := json.Unmarshal([]byte(scope), &r.Scope); err != nil {
			return nil, fmt.Errorf("sqlitestore: grant %s: scope: %w", r.ID, err)
		}
		r.State = grants.State(state)
		r.IssuedAt = time.Unix(0, issued)
		r.ExpiresAt = time.Unix(0, expires)
		if ended != 0 {
			r.EndedAt = time.Unix(0, ended)
		}
		out = append(out, &r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlitestore: %w", err)
	}
	return out, nil
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}
