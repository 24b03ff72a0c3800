// Package testdb gives tests a real PostgreSQL database of their own: a fresh,
// randomly named database created from $KEYHOLE_TEST_DSN (or the local server)
// and dropped when the test or package is done. There is no fake database.
package testdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultAdminDSN is used when $KEYHOLE_TEST_DSN is not set: the local server.
const DefaultAdminDSN = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// AdminDSN is a DSN of a role that may create databases and roles.
func AdminDSN() string {
	if dsn := os.Getenv("KEYHOLE_TEST_DSN"); dsn != "" {
		return dsn
	}
	return DefaultAdminDSN
}

// DB is one throwaway database.
type DB struct {
	Name string
	DSN  string // connects to Name as the admin role
}

// Create makes a fresh database with a random name.
func Create(ctx context.Context) (*DB, error) {
	admin := AdminDSN()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return nil, fmt.Errorf("testdb: connect to %s: %w (run `make test`, which starts a PostgreSQL, or set KEYHOLE_TEST_DSN)", redact(admin), err)
	}
	defer conn.Close(ctx)
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	name := "keyhole_test_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE template0 ENCODING 'UTF8'"); err != nil {
		return nil, fmt.Errorf("testdb: create database: %w", err)
	}
	u, err := url.Parse(admin)
	if err != nil {
		return nil, fmt.Errorf("testdb: admin DSN must be a URL: %w", err)
	}
	u.Path = "/" + name
	return &DB{Name: name, DSN: u.String()}, nil
}

// Drop removes the database, ending any session still connected to it.
func (db *DB) Drop(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, AdminDSN())
	if err != nil {
		return fmt.Errorf("testdb: drop: %w", err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+db.Name+" WITH (FORCE)")
	return err
}

// Exec runs SQL (several statements allowed) in the database as the admin role.
func (db *DB) Exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, db.DSN)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// New creates a database for one test and drops it at cleanup.
func New(tb testing.TB) *DB {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := Create(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := db.Drop(ctx); err != nil {
			tb.Errorf("drop %s: %v", db.Name, err)
		}
	})
	return db
}

// Main runs a test package against one fresh database, passed to run, and
// drops it afterwards. Use from TestMain: os.Exit(testdb.Main(m, func(db) {...})).
func Main(m *testing.M, use func(*DB)) int {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	db, err := Create(ctx)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	use(db)
	code := m.Run()
	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := db.Drop(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "testdb: drop:", err)
	}
	return code
}

func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable DSN)"
	}
	return u.Redacted()
}
