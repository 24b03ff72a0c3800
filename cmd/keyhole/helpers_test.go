package main

import (
	"database/sql"
	"encoding/base64"
	"testing"

	_ "modernc.org/sqlite"
)

var b64 = base64.RawURLEncoding

// rawStore edits keyhole's state file directly, as an attacker with access
// to the data directory would.
type rawStore struct {
	t  *testing.T
	db *sql.DB
}

func openStore(t *testing.T, path string) *rawStore {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &rawStore{t: t, db: db}
}

func (s *rawStore) token(id string) string {
	var tok string
	if err := s.db.QueryRow(`SELECT token FROM grants WHERE id = ?`, id).Scan(&tok); err != nil {
		s.t.Fatal(err)
	}
	return tok
}

func (s *rawStore) setToken(id, tok string) {
	if _, err := s.db.Exec(`UPDATE grants SET token = ? WHERE id = ?`, tok, id); err != nil {
		s.t.Fatal(err)
	}
}
