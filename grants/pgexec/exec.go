// Package pgexec runs one agent query in PostgreSQL under the limits of its
// grant: in a transaction that is READ ONLY for read grants, with SET LOCAL
// statement_timeout and search_path, positional parameters sent as untyped
// text (PostgreSQL infers their types exactly as it would for literals, and
// nothing is ever interpolated into the SQL), at most max_rows rows kept and
// every value turned into a JSON-typed value.
//
// Where the query runs is the grant's enforcement: on the grant's own pool,
// whose connections log in as the grant's ephemeral role (Query.Pool); on
// keyhole's pool under SET LOCAL ROLE to the role an admin mapped
// (Query.Role); or on keyhole's pool as keyhole's own role (gate-only).
//
// Cancelling ctx cancels the statement in PostgreSQL (pgx sends a cancel
// request on the wire); so does the grant's expiry (Query.Deadline).
//
// # Errors
//
// Refusals an agent can act on are *grants.Denial: INVALID_ARGUMENT (params
// over MaxParams or MaxParamsBytes, or holding a NUL), TIMEOUT
// (statement_timeout or a cancelled call), RESULT_TOO_LARGE (the rows, or
// one row judged by its length before it is read, exceed max_result_bytes),
// WRITE_NOT_GRANTED (read-only transaction, SQLSTATE 25006), OUT_OF_SCOPE
// (privilege error 42501) and
// QUERY_FAILED for any other SQL error, with its SQLSTATE. A query cut short
// because its grant ended — the deadline of its expiry passed, or its
// role's session was terminated (SQLSTATE 57P01) or could not log in — is
// refused with the reason Query.Ended gives (GRANT_EXPIRED, GRANT_REVOKED),
// or GRANT_EXPIRED at the deadline. No free connection (SQLSTATE 53300) is
// UNAVAILABLE with that reason. Other connection failures wrap
// ErrUnavailable.
package pgexec

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/keyholehq/keyhole/config"
	"github.com/keyholehq/keyhole/grants"
)

// ErrUnavailable means the database could not be reached.
var ErrUnavailable = errors.New("pgexec: database unavailable")

// Query is one statement to run for an agent.
type Query struct {
	SQL       string
	Params    []any // JSON values: nil, bool, string, json.Number/float64, or nested JSON
	Privilege grants.Privilege
	MaxRows   int // already capped by the resource's limit
	// ApplicationName is shown in pg_stat_activity and PostgreSQL's logs.
	ApplicationName string
	// Deadline, when not zero, ends the query at this time (the grant's expiry).
	Deadline time.Time
	// Pool, when set, runs the query on this pool — connections that log in
	// as the grant's own role (enforcement: ephemeral-role) — instead of the
	// resource's pool.
	Pool *pgxpool.Pool
	// Role, when set, is assumed with SET LOCAL ROLE inside the query's
	// transaction (enforcement: set-role).
	Role string
	// Ended, when set, reports why the grant ended, if it did: a
	// *grants.Denial such as GRANT_REVOKED or GRANT_EXPIRED, or nil while the
	// grant lives. It is consulted when a query fails the way a query of an
	// ended grant fails (its session terminated, its role unable to log in,
	// its pool closed, its deadline passed), so that the agent learns its
	// grant ended rather than that the database failed.
	Ended func(context.Context) error
}

// errGrantDeadline is the cause of a context ended by the grant's expiry.
var errGrantDeadline = errors.New("pgexec: the grant expired")

// ErrGrantEnded is the cause a caller gives when it cancels a query because
// its grant ended (released, revoked, its session ended): the query then
// fails with the reason Query.Ended reports.
var ErrGrantEnded = errors.New("pgexec: the grant ended")

// Column describes one result column.
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// Result is a query's answer, JSON-ready.
type Result struct {
	Columns   []Column
	Rows      [][]any
	RowCount  int  // rows returned to the agent
	Truncated bool // more rows existed than MaxRows
	Affected  int64
	Bytes     int // approximate JSON size of Rows
	Elapsed   time.Duration
}

// Executor owns one connection pool per resource (keyhole's own DSN).
type Executor struct {
	mu    sync.Mutex
	pools map[string]*pgxpool.Pool
}

// New returns an Executor with no pools open yet; pools open on first use.
func New() *Executor { return &Executor{pools: map[string]*pgxpool.Pool{}} }

// Close closes every pool.
func (e *Executor) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for name, p := range e.pools {
		p.Close()
		delete(e.pools, name)
	}
}

func (e *Executor) pool(ctx context.Context, res *config.Resource) (*pgxpool.Pool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if p, ok := e.pools[res.Name]; ok {
		return p, nil
	}
	pc, err := pgxpool.ParseConfig(res.DSN.Reveal())
	if err != nil {
		// The parse error may quote the DSN: never pass it on.
		return nil, fmt.Errorf("%w: resource %s: invalid dsn", ErrUnavailable, res.Name)
	}
	pc.MaxConns = 8
	pc.ConnConfig.RuntimeParams["application_name"] = "keyhole"
	p, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("%w: resource %s", ErrUnavailable, res.Name)
	}
	e.pools[res.Name] = p
	return p, nil
}

// Run executes q against res in its own transaction, on q.Pool when set,
// else on the resource's pool.
func (e *Executor) Run(ctx context.Context, res *config.Resource, q Query) (*Result, error) {
	p := q.Pool
	if p == nil {
		var err error
		if p, err = e.pool(ctx, res); err != nil {
			return nil, err
		}
	}
	if !q.Deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadlineCause(ctx, q.Deadline, errGrantDeadline)
		defer cancel()
	}
	start := time.Now()
	conn, err := p.Acquire(ctx)
	if err != nil {
		return nil, q.failure(ctx, res, err, true)
	}
	defer conn.Release()
	// No one row may be much larger than a whole result may be: a bigger
	// one is refused from its length, before it is read into memory.
	conn.Conn().PgConn().Frontend().SetMaxBodyLen(maxRowBytes(res))
	res2, err := run(ctx, conn.Conn(), res, q)
	if err != nil {
		return nil, q.failure(ctx, res, err, false)
	}
	res2.Elapsed = time.Since(start)
	return res2, nil
}

// maxRowBytes bounds one protocol message (one row in PostgreSQL's text
// form) at four times max_result_bytes plus 1 MiB: a row that fits the
// result limit as JSON always fits, since a row's text form is at most about
// 2.5 times its JSON form (a one-digit integer: a 4-byte length and the
// digit, against the digit and a comma).
func maxRowBytes(res *config.Resource) int {
	limit := res.Limits.MaxResultBytes
	if limit <= 0 {
		limit = 1 << 20
	}
	return int(min(4*limit+1<<20, 1<<30))
}

// failure turns an error of running q into what the agent should see.
func (q *Query) failure(ctx context.Context, res *config.Resource, err error, connecting bool) error {
	if d, ok := grants.AsDenial(err); ok {
		return d
	}
	if q.Ended != nil && grantEndSymptom(ctx, err) {
		if end := q.Ended(context.WithoutCancel(ctx)); end != nil {
			return end
		}
	}
	if ctx.Err() != nil {
		return timeoutDenial(ctx, res)
	}
	if !connecting {
		return classify(err, res)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "53300" {
		return tooManyConnections(res, pgErr)
	}
	return fmt.Errorf("%w: resource %s: %s", ErrUnavailable, res.Name, safeConnError(err))
}

// grantEndSymptom reports whether err is how a query of an ended grant
// fails: the grant's deadline, a session terminated by keyhole (57P01), a
// role that may no longer log in (28000, 28P01), or a lost connection or
// closed pool (no SQLSTATE at all).
func grantEndSymptom(ctx context.Context, err error) bool {
	if cause := context.Cause(ctx); errors.Is(cause, errGrantDeadline) || errors.Is(cause, ErrGrantEnded) {
		return true
	}
	var tooBig *pgproto3.ExceededMaxBodyLenErr
	if errors.As(err, &tooBig) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "57P01", "28000", "28P01":
			return true
		}
		return false
	}
	return true
}

func tooManyConnections(res *config.Resource, pgErr *pgconn.PgError) error {
	return &QueryError{Denial: grants.Deny(grants.CodeUnavailable,
		"resource %q has no free database connection right now (SQLSTATE 53300: %s); retry in a moment, or release grants you no longer need", res.Name, pgErr.Message),
		SQLState: pgErr.Code}
}

// Run executes q on an already-open connection (a grant's own role, for
// example) in its own transaction, with the same limits as Executor.Run.
func Run(ctx context.Context, conn *pgx.Conn, res *config.Resource, q Query) (*Result, error) {
	conn.PgConn().Frontend().SetMaxBodyLen(maxRowBytes(res))
	start := time.Now()
	r, err := run(ctx, conn, res, q)
	if err != nil {
		if ctx.Err() != nil {
			return nil, timeoutDenial(ctx, res)
		}
		return nil, classify(err, res)
	}
	r.Elapsed = time.Since(start)
	return r, nil
}

func run(ctx context.Context, conn *pgx.Conn, res *config.Resource, q Query) (result *Result, err error) {
	mode := pgx.ReadOnly
	if q.Privilege == grants.Write {
		mode = pgx.ReadWrite
	}
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{AccessMode: mode})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil || mode == pgx.ReadOnly {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	if _, err := tx.Exec(ctx, setLocals(res, q)); err != nil {
		var pgErr *pgconn.PgError
		if q.Role != "" && errors.As(err, &pgErr) && (pgErr.Code == "42501" || pgErr.Code == "22023") {
			// keyhole is not a member of the mapped role, or it is gone:
			// the admin's setup, not the agent's query.
			return nil, &QueryError{Denial: grants.Deny(grants.CodeUnavailable,
				"keyhole cannot assume the database role mapped for %s on resource %q (SQLSTATE %s); an admin must fix it (keyhole config check --connect)", q.Privilege, res.Name, pgErr.Code),
				SQLState: pgErr.Code}
		}
		return nil, err
	}
	params, err := encodeParams(q.Params)
	if err != nil {
		return nil, err
	}
	rr := conn.PgConn().ExecParams(ctx, q.SQL, params, nil, nil, nil)
	rows := pgx.RowsFromResultReader(conn.TypeMap(), rr)
	result, err = collect(rows, conn.TypeMap(), q.MaxRows, res.Limits.MaxResultBytes)
	rows.Close()
	if err == nil {
		err = rows.Err()
	}
	if err != nil {
		return nil, err
	}
	result.Affected = rows.CommandTag().RowsAffected()
	if mode == pgx.ReadWrite {
		if err := tx.Commit(ctx); err != nil {
			return nil, err
		}
	}
	return result, nil
}

// setLocals fixes the transaction's limits, and the settings under which
// the SQL gate read the statement: its search_path, and
// standard_conforming_strings on (with it off, a backslash in a string
// literal would make PostgreSQL read the text differently from the gate).
// SET LOCAL ends with the transaction, so nothing leaks to the next user of
// a pooled connection.
func setLocals(res *config.Resource, q Query) string {
	timeout := res.Limits.StatementTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	path := res.SearchPath
	if len(path) == 0 {
		path = []string{"public"}
	}
	quoted := make([]string, len(path))
	for i, s := range path {
		quoted[i] = pgx.Identifier{s}.Sanitize()
	}
	sets := fmt.Sprintf("SET LOCAL statement_timeout = %d; SET LOCAL idle_in_transaction_session_timeout = %d; SET LOCAL search_path = %s; SET LOCAL standard_conforming_strings = on; SET LOCAL TimeZone = 'UTC'; SET LOCAL application_name = %s",
		timeout.Milliseconds(), timeout.Milliseconds()+1000, strings.Join(quoted, ", "), quoteLiteral(q.ApplicationName))
	if q.Role != "" {
		sets += "; SET LOCAL ROLE " + pgx.Identifier{q.Role}.Sanitize()
	}
	return sets
}

func quoteLiteral(s string) string {
	if s == "" {
		s = "keyhole"
	}
	// application_name keeps printable ASCII only, 63 bytes at most.
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s) && len(b) < 63; i++ {
		if c := s[i]; c >= 0x20 && c < 0x7f && c != '\'' && c != '\\' {
			b = append(b, c)
		}
	}
	return "'" + string(b) + "'"
}

// Bounds on a query's parameters. MaxParams is the extended protocol's
// limit; MaxParamsBytes keeps one call from making keyhole hold, send and
// record megabytes of agent-supplied values.
const (
	MaxParams      = 65535
	MaxParamsBytes = 1 << 20
)

// CheckParams refuses, with INVALID_ARGUMENT, parameters that Run would
// refuse: too many, too large in total, a value PostgreSQL text cannot hold.
// Callers check before recording a query as allowed.
func CheckParams(params []any) error {
	_, err := encodeParams(params)
	return err
}

// encodeParams renders each JSON value as untyped text, so PostgreSQL infers
// the parameter's type from its use, as it does for a quoted literal.
func encodeParams(params []any) ([][]byte, error) {
	if len(params) > MaxParams {
		return nil, grants.Deny(grants.CodeInvalidArgument, "%d params; the limit is %d", len(params), MaxParams)
	}
	out := make([][]byte, len(params))
	total := 0
	for i, v := range params {
		switch v := v.(type) {
		case nil:
			out[i] = nil
		case string:
			out[i] = []byte(v)
		case bool:
			out[i] = []byte(strconv.FormatBool(v))
		case json.Number:
			out[i] = []byte(v.String())
		case float64:
			out[i] = []byte(strconv.FormatFloat(v, 'g', -1, 64))
		case int:
			out[i] = []byte(strconv.Itoa(v))
		case int64:
			out[i] = []byte(strconv.FormatInt(v, 10))
		default:
			b, err := json.Marshal(v)
			if err != nil {
				return nil, grants.Deny(grants.CodeInvalidArgument, "params[%d]: not a JSON value", i)
			}
			out[i] = b
		}
		if out[i] != nil && strings.IndexByte(string(out[i]), 0) >= 0 {
			return nil, grants.Deny(grants.CodeInvalidArgument, "params[%d]: contains a NUL character, which PostgreSQL text cannot hold", i)
		}
		if total += len(out[i]); total > MaxParamsBytes {
			return nil, grants.Deny(grants.CodeInvalidArgument, "params exceed %d bytes in total; send less data per call", MaxParamsBytes)
		}
	}
	return out, nil
}

func collect(rows pgx.Rows, tm *pgtype.Map, maxRows int, maxBytes int64) (*Result, error) {
	r := &Result{Rows: [][]any{}}
	fields := rows.FieldDescriptions()
	for _, fd := range fields {
		r.Columns = append(r.Columns, Column{Name: fd.Name, Type: typeName(tm, fd.DataTypeOID)})
	}
	if maxBytes <= 0 {
		maxBytes = 1 << 20
	}
	for rows.Next() {
		if r.RowCount >= maxRows {
			// Keep draining so the statement completes (writes commit
			// whole); the agent learns the result was cut.
			r.Truncated = true
			continue
		}
		vals, err := rows.Values()
		if err != nil {
			return nil, err
		}
		raw := rows.RawValues()
		row := make([]any, len(vals))
		for i, v := range vals {
			switch oid := fields[i].DataTypeOID; {
			case (oid == pgtype.JSONOID || oid == pgtype.JSONBOID) && v != nil && i < len(raw):
				// The text PostgreSQL sent, not pgx's decoding (float64),
				// so that numbers keep their exact digits.
				row[i] = json.RawMessage(slices.Clone(raw[i]))
			default:
				row[i] = jsonValue(v, oid)
			}
		}
		size, err := json.Marshal(row)
		if err != nil {
			return nil, fmt.Errorf("pgexec: encode row: %w", err)
		}
		if int64(r.Bytes+len(size)) > maxBytes {
			return nil, grants.Deny(grants.CodeResultTooLarge,
				"the result exceeds this resource's limit of %d bytes after %d rows; select fewer columns, aggregate, or pass a smaller max_rows", maxBytes, r.RowCount)
		}
		r.Bytes += len(size)
		r.Rows = append(r.Rows, row)
		r.RowCount++
	}
	return r, nil
}

func typeName(tm *pgtype.Map, oid uint32) string {
	if t, ok := tm.TypeForOID(oid); ok {
		return t.Name
	}
	return "oid:" + strconv.FormatUint(uint64(oid), 10)
}

// jsonValue maps a decoded PostgreSQL value to a JSON-typed value: numbers as
// numbers, timestamptz as RFC 3339 in UTC, timestamp (no zone) as the same
// form without an offset, date as YYYY-MM-DD, bytea as base64, json as JSON.
func jsonValue(v any, oid uint32) any {
	if t, ok := v.(time.Time); ok {
		switch oid {
		case pgtype.DateOID:
			return t.Format(time.DateOnly)
		case pgtype.TimestampOID:
			return t.Format("2006-01-02T15:04:05.999999999")
		}
	}
	switch v := v.(type) {
	case nil, bool, string, int8, int16, int32, int64, int, uint32, uint64:
		return v
	case float32:
		return jsonFloat(float64(v))
	case float64:
		return jsonFloat(v)
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano)
	case []byte:
		return base64.StdEncoding.EncodeToString(v)
	case pgtype.Numeric:
		return numericValue(v)
	case [16]byte:
		return fmt.Sprintf("%x-%x-%x-%x-%x", v[0:4], v[4:6], v[6:8], v[8:10], v[10:16])
	case netip.Prefix:
		return v.String()
	case pgtype.Interval:
		iv, _ := v.Value()
		return iv
	case map[string]any:
		return v
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = jsonValue(e, 0)
		}
		return out
	case pgtype.Time:
		tv, _ := v.Value()
		return tv
	case fmt.Stringer:
		return v.String()
	}
	if b, err := json.Marshal(v); err == nil {
		return json.RawMessage(b)
	}
	return fmt.Sprint(v)
}

func jsonFloat(f float64) any {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return strconv.FormatFloat(f, 'g', -1, 64) // JSON has no NaN or Infinity
	}
	return f
}

func numericValue(n pgtype.Numeric) any {
	if !n.Valid {
		return nil
	}
	if n.NaN || n.InfinityModifier != pgtype.Finite {
		v, _ := n.Value()
		return v
	}
	if n.Exp >= 0 {
		i := new(big.Int).Mul(n.Int, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n.Exp)), nil))
		return json.Number(i.String())
	}
	v, err := n.Value() // text form, exact
	if err != nil {
		return nil
	}
	return json.Number(v.(string))
}

func timeoutDenial(ctx context.Context, res *config.Resource) error {
	if errors.Is(context.Cause(ctx), errGrantDeadline) {
		return grants.Deny(grants.CodeGrantExpired, "the grant expired while the query ran, and the query was cancelled; call request_access again if you still need access")
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return grants.Deny(grants.CodeTimeout, "the query did not finish before its deadline (the grant's expiry or the caller's); narrow it or request a longer grant")
	}
	return grants.Deny(grants.CodeTimeout, "the query was cancelled by the caller")
}

// classify turns a PostgreSQL error into a denial by SQLSTATE, never by text.
func classify(err error, res *config.Resource) error {
	if d, ok := grants.AsDenial(err); ok {
		return d
	}
	var tooBig *pgproto3.ExceededMaxBodyLenErr
	if errors.As(err, &tooBig) {
		return grants.Deny(grants.CodeResultTooLarge,
			"a row of the result is larger than this resource's limit of %d bytes allows; select fewer or shorter values (substring, length, an aggregate)", res.Limits.MaxResultBytes)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "57014": // query_canceled: statement_timeout
			return grants.Deny(grants.CodeTimeout, "the query ran longer than this resource's statement_timeout of %s; narrow it (add WHERE, LIMIT or an aggregate)", res.Limits.StatementTimeout)
		case "25006": // read_only_sql_transaction
			return &QueryError{Denial: grants.Deny(grants.CodeWriteNotGranted, "the database refused a write in this read-only transaction; request a write grant for the table"), SQLState: pgErr.Code}
		case "42501": // insufficient_privilege
			return &QueryError{Denial: grants.Deny(grants.CodeOutOfScope, "the database refused: %s; request access to it first", pgErr.Message), SQLState: pgErr.Code}
		case "53300": // too_many_connections
			return tooManyConnections(res, pgErr)
		case "57P01": // admin_shutdown: the session was terminated
			return &QueryError{Denial: grants.Deny(grants.CodeUnavailable, "the database ended the session running the query (SQLSTATE 57P01); try again"), SQLState: pgErr.Code}
		}
		return &QueryError{Denial: grants.Deny(grants.CodeQueryFailed, "PostgreSQL error %s: %s", pgErr.Code, pgErr.Message), SQLState: pgErr.Code}
	}
	if pgconn.SafeToRetry(err) || isConnErr(err) {
		return fmt.Errorf("%w: resource %s: %s", ErrUnavailable, res.Name, safeConnError(err))
	}
	return fmt.Errorf("pgexec: %w", err)
}

// QueryError is a refusal that came from PostgreSQL, with its SQLSTATE for the audit trail.
type QueryError struct {
	*grants.Denial
	SQLState string
}

func (e *QueryError) Unwrap() error { return e.Denial }

func isConnErr(err error) bool {
	var ce *pgconn.ConnectError
	return errors.As(err, &ce) || pgconn.Timeout(err)
}

// safeConnError describes a connection failure without the DSN or password.
func safeConnError(err error) string {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return "cannot connect to the database"
	}
	return "connection failed"
}

// ColumnTypes returns the columns and types of the resource's tables, in
// table order, as keyhole's own role sees them in the catalog.
func (e *Executor) ColumnTypes(ctx context.Context, res *config.Resource) (map[grants.Table][]Column, error) {
	p, err := e.pool(ctx, res)
	if err != nil {
		return nil, err
	}
	schemas := make([]string, len(res.Tables))
	names := make([]string, len(res.Tables))
	for i, t := range res.Tables {
		schemas[i], names[i] = t.Schema, t.Name
	}
	rows, err := p.Query(ctx, `
		SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod)
		FROM pg_catalog.pg_attribute a
		JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
		JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE a.attnum > 0 AND NOT a.attisdropped
		  AND (n.nspname, c.relname) IN (SELECT * FROM unnest($1::text[], $2::text[]))
		ORDER BY n.nspname, c.relname, a.attnum`, schemas, names)
	if err != nil {
		return nil, fmt.Errorf("%w: resource %s: %s", ErrUnavailable, res.Name, safeConnError(err))
	}
	defer rows.Close()
	out := map[grants.Table][]Column{}
	for rows.Next() {
		var t grants.Table
		var c Column
		if err := rows.Scan(&t.Schema, &t.Name, &c.Name, &c.Type); err != nil {
			return nil, fmt.Errorf("pgexec: column types: %w", err)
		}
		out[t] = append(out[t], c)
	}
	return out, rows.Err()
}
