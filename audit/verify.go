package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// ProblemKind classifies the first thing Verify found wrong with a trail.
type ProblemKind string

const (
	// Changed: a record's bytes do not match its hash, or the chain breaks
	// between two records whose own hashes hold (one was rewritten).
	Changed ProblemKind = "changed"
	// Removed: records are missing.
	Removed ProblemKind = "removed"
	// Inserted: a line that is not part of the chain sits between two
	// records that chain to each other, or two lines claim one seq.
	Inserted ProblemKind = "inserted"
	// Reordered: records are all there, but not in chain order.
	Reordered ProblemKind = "reordered"
	// Truncated: the last line of a file stops in the middle of a record.
	Truncated ProblemKind = "truncated"
	// BadSignature: a checkpoint's signature does not verify, its key is not
	// in the JWKS, or it does not state the head it follows.
	BadSignature ProblemKind = "signature"
)

// Problem is the first fault Verify found, located by file, line (1-based)
// and seq.
type Problem struct {
	Kind   ProblemKind `json:"kind"`
	File   string      `json:"file"`
	Line   int         `json:"line"`
	Seq    uint64      `json:"seq,omitempty"`
	Detail string      `json:"detail"`
}

func (p *Problem) Error() string {
	return fmt.Sprintf("audit: %s:%d: %s: %s", p.File, p.Line, p.Kind, p.Detail)
}

// CheckpointRef locates a verified checkpoint.
type CheckpointRef struct {
	Seq    uint64    `json:"seq"`    // the checkpoint record's own seq
	Covers uint64    `json:"covers"` // last record it signs
	Head   string    `json:"head"`   // that record's hash
	Time   time.Time `json:"time"`
	KeyID  string    `json:"kid"`
	File   string    `json:"file"`
	Line   int       `json:"line"`
}

// Report is the outcome of Verify.
type Report struct {
	Files       []string `json:"files"`
	Records     uint64   `json:"records"` // records checked, checkpoints included
	FirstSeq    uint64   `json:"first_seq"`
	LastSeq     uint64   `json:"last_seq"`
	Head        string   `json:"head,omitempty"` // hash of the last record checked
	Checkpoints int      `json:"checkpoints"`
	// LastCheckpoint is the last verified checkpoint, nil if none.
	LastCheckpoint *CheckpointRef `json:"last_checkpoint,omitempty"`
	// Unsealed counts the records after the last checkpoint: no signature
	// covers them. They were written since the last checkpoint by a
	// running keyhole or one that crashed, or the trail was cut after
	// them; a keyhole that shuts down cleanly leaves none.
	Unsealed uint64 `json:"unsealed"`
	// Partial is set when the chain does not start at seq 1: it starts
	// with the checkpoint a rotated file begins with, and the files before
	// it were not given.
	Partial bool `json:"partial,omitempty"`
	// Problem is the first fault found; nil if the chain is intact.
	Problem *Problem `json:"problem,omitempty"`
}

// Verify exit statuses, as `keyhole audit verify` uses them.
const (
	ExitIntact   = 0 // chain intact, every record covered by a checkpoint
	ExitTampered = 1 // Problem is set
	ExitUsage    = 2 // bad arguments, or a file or the JWKS cannot be read
	ExitUnsealed = 3 // chain intact, but records follow the last checkpoint
)

// ExitCode returns the exit status `keyhole audit verify` gives r.
func (r *Report) ExitCode() int {
	switch {
	case r.Problem != nil:
		return ExitTampered
	case r.Unsealed > 0:
		return ExitUnsealed
	}
	return ExitIntact
}

// vrec is the part of a record Verify reads.
type vrec struct {
	Seq        uint64      `json:"seq"`
	Time       time.Time   `json:"time"`
	Event      string      `json:"event"`
	Checkpoint *Checkpoint `json:"checkpoint"`
	Prev       string      `json:"prev"`
	Hash       string      `json:"hash"`
}

// parsed is one line of a trail and what can be said of it on its own.
type parsed struct {
	line int
	raw  []byte
	rec  vrec
	ok   bool // well formed, and its hash matches its bytes and prev
	why  string
}

// Verify checks the trail made of files, in the order given (TrailFiles
// gives the right order): that every record's hash matches its bytes and the
// hash before it, that seqs follow one another across files, and that every
// checkpoint is signed by a key of keys over the head it follows. It stops at
// the first fault and names it in Report.Problem. The error is only for
// files that cannot be read.
func Verify(ctx context.Context, files []string, keys KeySet) (*Report, error) {
	v := &verifier{keys: keys, rep: &Report{Files: files}}
	for _, name := range files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := v.file(ctx, name); err != nil {
			return nil, err
		}
		if v.rep.Problem != nil {
			break
		}
	}
	return v.rep, nil
}

type verifier struct {
	keys KeySet
	rep  *Report

	started  bool
	expSeq   uint64 // seq the next record must have
	prevHex  string // hash of the last record
	prev2Hex string // hash of the one before
	prevFile string
	prevLine int
}

// lines reads a file line by line, with one line of lookahead.
type lines struct {
	r      *bufio.Reader
	n      int
	peeked *parsed
	name   string
}

// next returns the next line, or nil at the end of the file. A last line
// without its newline comes back with ok false and why "incomplete".
func (ls *lines) next() (*parsed, error) {
	if p := ls.peeked; p != nil {
		ls.peeked = nil
		return p, nil
	}
	raw, err := ls.r.ReadBytes('\n')
	if errors.Is(err, io.EOF) {
		if len(raw) == 0 {
			return nil, nil
		}
		ls.n++
		return &parsed{line: ls.n, raw: raw, why: "incomplete"}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("audit: %s: %w", ls.name, err)
	}
	ls.n++
	return parseLine(ls.n, raw[:len(raw)-1]), nil
}

func (ls *lines) peek() (*parsed, error) {
	if ls.peeked == nil {
		p, err := ls.next()
		if err != nil {
			return nil, err
		}
		ls.peeked = p
	}
	return ls.peeked, nil
}

func parseLine(n int, raw []byte) *parsed {
	p := &parsed{line: n, raw: raw}
	if !quickParse(raw, &p.rec) || p.rec.Event == CheckpointEvent {
		p.rec = vrec{}
		if err := json.Unmarshal(raw, &p.rec); err != nil {
			p.why = "not a JSON record"
			return p
		}
	}
	prev, err := hex.DecodeString(p.rec.Prev)
	if err != nil || (len(prev) != 0 && len(prev) != hashSize) {
		p.why = "prev is not a hash"
		return p
	}
	claimed, actual, err := lineHash(raw, prev)
	switch {
	case err != nil:
		p.why = err.Error()
	case hex.EncodeToString(claimed[:]) != p.rec.Hash:
		p.why = "hash field is not where the canonical encoding puts it"
	case claimed != actual:
		p.why = "its hash does not match its content"
	case p.rec.Seq == 0:
		p.why = "seq is missing"
	default:
		p.ok = true
	}
	return p
}

// quickParse reads seq, event, prev and hash from the places the canonical
// encoding puts them (seq and event open the record; prev and hash, of fixed
// lengths, close it) without decoding the rest: the chain hash, checked
// next, vouches for every other byte. It reports false for a line of any
// other shape, which is then decoded in full.
func quickParse(raw []byte, r *vrec) bool {
	rest, ok := bytes.CutPrefix(raw, []byte(`{"seq":`))
	if !ok {
		return false
	}
	i := 0
	var seq uint64
	for ; i < len(rest) && '0' <= rest[i] && rest[i] <= '9' && i < 20; i++ {
		seq = seq*10 + uint64(rest[i]-'0')
	}
	if rest, ok = bytes.CutPrefix(rest[i:], []byte(`,"time":"`)); !ok || i == 0 {
		return false
	}
	if i = bytes.IndexByte(rest, '"'); i < 0 {
		return false
	}
	if rest, ok = bytes.CutPrefix(rest[i:], []byte(`","event":"`)); !ok {
		return false
	}
	if i = bytes.IndexByte(rest, '"'); i < 0 || bytes.IndexByte(rest[:i], '\\') >= 0 {
		return false
	}
	event := rest[:i]
	// `,"prev":"` + prev (0 or 64 hex digits) + `","hash":"` + 64 + `"}`
	const tail = len(`","hash":"`) + 2*hashSize + len(`"}`)
	const key = len(`,"prev":"`)
	n := len(raw)
	if n < tail+key || string(raw[n-tail:n-tail+10]) != `","hash":"` {
		return false
	}
	var prev []byte
	switch {
	case string(raw[n-tail-key:n-tail]) == `,"prev":"`:
	case n >= tail+2*hashSize+key && string(raw[n-tail-2*hashSize-key:n-tail-2*hashSize]) == `,"prev":"`:
		prev = raw[n-tail-2*hashSize : n-tail]
	default:
		return false
	}
	r.Seq, r.Event, r.Prev, r.Hash = seq, string(event), string(prev), string(raw[n-2-2*hashSize:n-2])
	return true
}

func (v *verifier) file(ctx context.Context, name string) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	ls := &lines{r: bufio.NewReaderSize(f, 1<<20), name: name}
	for {
		if v.rep.Records&0xffff == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		p, err := ls.next()
		if err != nil {
			return err
		}
		if p == nil {
			return nil
		}
		if err := v.line(name, ls, p); err != nil || v.rep.Problem != nil {
			return err
		}
	}
}

func (v *verifier) fault(kind ProblemKind, file string, line int, seq uint64, format string, args ...any) {
	v.rep.Problem = &Problem{Kind: kind, File: file, Line: line, Seq: seq, Detail: fmt.Sprintf(format, args...)}
}

// startsChain reports whether p may be the first record verified: seq 1,
// or the checkpoint a rotated file starts with.
func startsChain(p *parsed) bool {
	return p.ok && (p.rec.Seq == 1 && p.rec.Prev == "" || p.rec.Seq > 1 && p.rec.Event == CheckpointEvent)
}

// chainsHere reports whether q would be the right next record.
func (v *verifier) chainsHere(q *parsed) bool {
	return q != nil && q.ok && q.rec.Seq == v.expSeq && q.rec.Prev == v.prevHex
}

func (v *verifier) line(name string, ls *lines, p *parsed) error {
	r := &p.rec
	switch {
	case p.why == "incomplete":
		v.fault(Truncated, name, p.line, v.expSeq,
			"the file ends in the middle of a record (%d bytes after the last newline): its tail was cut", len(p.raw))
		return nil

	case !v.started:
		if !startsChain(p) {
			q, err := ls.peek()
			if err != nil {
				return err
			}
			if q != nil && startsChain(q) {
				v.fault(Inserted, name, p.line, r.Seq,
					"line %d is not part of the chain: the chain starts at line %d (seq %d)", p.line, q.line, q.rec.Seq)
				return nil
			}
		}
		switch {
		case !p.ok:
			v.fault(Changed, name, p.line, r.Seq, "the first record is not valid: %s", p.why)
			return nil
		case r.Seq == 1 && r.Prev == "":
		case r.Seq > 1 && r.Event == CheckpointEvent:
			v.rep.Partial = true
		default:
			v.fault(Removed, name, p.line, r.Seq,
				"the trail starts with seq %d, which is neither the first record nor the checkpoint a rotated file starts with: the records before it were removed", r.Seq)
			return nil
		}

	case !p.ok || r.Seq == v.expSeq && r.Prev != v.prevHex:
		// A line that does not belong here: inserted if the next line
		// chains straight from the record before it, else changed.
		q, err := ls.peek()
		if err != nil {
			return err
		}
		if v.chainsHere(q) {
			v.fault(Inserted, name, p.line, r.Seq,
				"line %d is not part of the chain: line %d (seq %d) follows seq %d directly", p.line, q.line, q.rec.Seq, v.expSeq-1)
			return nil
		}
		if !p.ok {
			seq := r.Seq
			if seq == 0 {
				seq = v.expSeq
			}
			v.fault(Changed, name, p.line, seq, "record seq %d was changed: %s", seq, p.why)
			return nil
		}
		v.fault(Changed, v.prevFile, v.prevLine, v.expSeq-1,
			"record seq %d (%s:%d) or seq %d (line %d) was rewritten: seq %d does not chain to the hash of seq %d",
			v.expSeq-1, v.prevFile, v.prevLine, r.Seq, p.line, r.Seq, v.expSeq-1)
		return nil

	case r.Seq > v.expSeq:
		// Either the expected record comes later (reordered), or it is
		// gone (removed), or this line is a forgery whose seq shows up
		// again further on (inserted).
		foundAt, again := 0, 0
		for {
			q, err := ls.next()
			if err != nil {
				return err
			}
			if q == nil {
				break
			}
			if q.rec.Seq == v.expSeq && foundAt == 0 {
				foundAt = q.line
			}
			if q.rec.Seq == r.Seq && again == 0 {
				again = q.line
			}
		}
		switch {
		case again > 0:
			v.fault(Inserted, name, p.line, r.Seq,
				"line %d claims seq %d, which line %d also holds: line %d is not part of the chain", p.line, r.Seq, again, p.line)
		case foundAt > 0:
			v.fault(Reordered, name, p.line, v.expSeq,
				"records are out of order: seq %d is at line %d, after seq %d at line %d", v.expSeq, foundAt, r.Seq, p.line)
		case r.Seq == v.expSeq+1:
			v.fault(Removed, name, p.line, v.expSeq, "record seq %d was removed (it belongs before line %d)", v.expSeq, p.line)
		default:
			v.fault(Removed, name, p.line, v.expSeq, "records seq %d to %d were removed (they belong before line %d)", v.expSeq, r.Seq-1, p.line)
		}
		return nil

	case r.Seq < v.expSeq:
		if r.Seq == v.expSeq-1 && r.Prev == v.prev2Hex {
			v.fault(Inserted, v.prevFile, v.prevLine, r.Seq,
				"two records claim seq %d (%s:%d and line %d), both chained to seq %d: the first is not part of the chain",
				r.Seq, v.prevFile, v.prevLine, p.line, r.Seq-1)
			return nil
		}
		v.fault(Reordered, name, p.line, r.Seq,
			"records are out of order: seq %d (line %d) comes after seq %d", r.Seq, p.line, v.expSeq-1)
		return nil
	}

	// p is the right next record.
	if r.Event == CheckpointEvent {
		if !v.checkpoint(name, p) {
			return nil
		}
	} else {
		v.rep.Unsealed++
	}
	if !v.started {
		v.started = true
		v.rep.FirstSeq = r.Seq
	}
	v.rep.Records++
	v.rep.LastSeq, v.rep.Head = r.Seq, r.Hash
	v.prev2Hex, v.prevHex = v.prevHex, r.Hash
	v.expSeq = r.Seq + 1
	v.prevFile, v.prevLine = name, p.line
	return nil
}

// checkpoint verifies the checkpoint record p, which chains correctly.
func (v *verifier) checkpoint(name string, p *parsed) bool {
	r := &p.rec
	c := r.Checkpoint
	switch {
	case c == nil:
		v.fault(BadSignature, name, p.line, r.Seq, "checkpoint seq %d carries no checkpoint", r.Seq)
		return false
	case c.Seq != r.Seq-1:
		v.fault(BadSignature, name, p.line, r.Seq,
			"checkpoint seq %d was signed after seq %d but now follows seq %d: records %s were removed, inserted or renumbered",
			r.Seq, c.Seq, r.Seq-1, v.sinceCheckpoint())
		return false
	case c.Head != r.Prev:
		v.fault(BadSignature, name, p.line, r.Seq,
			"checkpoint seq %d signed head %.16s… for seq %d, but the chain there is %.16s…: records %s were rewritten",
			r.Seq, c.Head, c.Seq, r.Prev, v.sinceCheckpoint())
		return false
	}
	pub, ok := v.keys[c.KeyID]
	if !ok {
		v.fault(BadSignature, name, p.line, r.Seq,
			"checkpoint seq %d is signed by key %q, which the JWKS does not hold", r.Seq, c.KeyID)
		return false
	}
	if !verifyCheckpoint(c, r.Time, pub) {
		v.fault(BadSignature, name, p.line, r.Seq,
			"checkpoint seq %d: the signature does not verify with key %q", r.Seq, c.KeyID)
		return false
	}
	v.rep.Checkpoints++
	v.rep.Unsealed = 0
	v.rep.LastCheckpoint = &CheckpointRef{
		Seq: r.Seq, Covers: c.Seq, Head: c.Head, Time: r.Time, KeyID: c.KeyID, File: name, Line: p.line,
	}
	return true
}

// sinceCheckpoint names the records after the last verified checkpoint.
func (v *verifier) sinceCheckpoint() string {
	if c := v.rep.LastCheckpoint; c != nil {
		return fmt.Sprintf("after checkpoint seq %d", c.Seq)
	}
	return fmt.Sprintf("from seq %d", v.rep.FirstSeq)
}

// String renders r for a person.
func (r *Report) String() string {
	var b bytes.Buffer
	if p := r.Problem; p != nil {
		fmt.Fprintf(&b, "TAMPERED  %s:%d: %s: %s\n", p.File, p.Line, p.Kind, p.Detail)
		if r.Records > 0 {
			fmt.Fprintf(&b, "          records seq %d to %d before it verify\n", r.FirstSeq, r.LastSeq)
		}
		return b.String()
	}
	if r.Records == 0 {
		b.WriteString("EMPTY     no records\n")
		return b.String()
	}
	if r.Unsealed > 0 {
		fmt.Fprintf(&b, "UNSEALED  chain intact, but %d records (seq %d to %d) follow the last checkpoint: no signature covers them (written since by a running keyhole, left by a crash, or the trail was cut after them)\n",
			r.Unsealed, r.LastSeq-r.Unsealed+1, r.LastSeq)
	} else {
		b.WriteString("OK        chain intact, every record covered by a signed checkpoint\n")
	}
	fmt.Fprintf(&b, "          %d records, seq %d to %d, %d files, %d checkpoints\n",
		r.Records, r.FirstSeq, r.LastSeq, len(r.Files), r.Checkpoints)
	if r.Partial {
		fmt.Fprintf(&b, "          the chain starts at seq %d, a rotated file's opening checkpoint: earlier files were not given\n", r.FirstSeq)
	}
	if c := r.LastCheckpoint; c != nil {
		fmt.Fprintf(&b, "          last checkpoint: seq %d at %s:%d, covers seq %d head %s, %s, key %s\n",
			c.Seq, c.File, c.Line, c.Covers, c.Head, c.Time.Format(time.RFC3339), c.KeyID)
	}
	return b.String()
}
