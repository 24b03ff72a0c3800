package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// ErrUnavailable is returned by Record when the trail cannot be written:
// disk full, permission lost, a failed sync, or a closed Log. The caller
// must refuse the action the record was meant to precede.
var ErrUnavailable = errors.New("audit: trail unavailable")

// FsyncMode says when the writer syncs the trail to stable storage.
type FsyncMode string

const (
	// FsyncAlways syncs each record before Record returns.
	FsyncAlways FsyncMode = "always"
	// FsyncBatch lets concurrent records share one sync (group commit). No
	// Record returns before a sync that covers its record.
	FsyncBatch FsyncMode = "batch"
)

// Defaults for zero Options fields.
const (
	DefaultCheckpointEvery    = 1000
	DefaultCheckpointInterval = time.Minute
	DefaultProbeInterval      = time.Second
)

// Options configure the writer.
type Options struct {
	// Path is the trail file, e.g. data_dir/audit.jsonl. Its directory is
	// created if missing; Path+".lock" is the lock file writers share.
	Path string
	// Fsync is FsyncAlways or FsyncBatch (the default).
	Fsync FsyncMode
	// Signer signs checkpoints. Nil writes no checkpoints (tests only: an
	// unsigned trail proves nothing against someone who can rewrite it).
	Signer ed25519.PrivateKey
	// KeyID is the kid of Signer in jwks.json; default Thumbprint(Signer).
	KeyID string
	// A checkpoint is written after CheckpointEvery records (default 1000)
	// or CheckpointInterval (default 1m) since the last one, whichever
	// comes first, and at Close.
	CheckpointEvery    int
	CheckpointInterval time.Duration
	// The trail file is rotated before a record that would be appended to a
	// file of RotateBytes or more, or whose first record is RotateAge old.
	// Zero: never.
	RotateBytes int64
	RotateAge   time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger is the operational log (stderr), where write failures and
	// recoveries are reported. Default: discard.
	Logger *slog.Logger
	// ProbeInterval is how long Record fails fast after a write failure
	// before it tries the disk again (default 1s).
	ProbeInterval time.Duration
}

// String and LogValue keep the signing key out of any printout of Options.
func (o Options) String() string {
	return fmt.Sprintf("audit.Options{Path: %q, Fsync: %s, KeyID: %q}", o.Path, o.Fsync, o.KeyID)
}

func (o Options) LogValue() slog.Value {
	return slog.GroupValue(slog.String("path", o.Path), slog.String("fsync", string(o.Fsync)), slog.String("kid", o.KeyID))
}

// Log is the chained, durable audit writer. It is safe for concurrent use,
// and several Logs (in one or several processes) may append to one trail.
type Log struct {
	opts  Options
	kid   string
	log   *slog.Logger
	lockf *os.File // flock held around read-tail + append

	mu        sync.Mutex // serializes appends in this process
	f         *os.File   // the trail file, O_APPEND
	fi        os.FileInfo
	size      int64 // size of f after our last append or read
	seq       uint64
	head      [hashSize]byte // hash of record seq
	headHex   string
	sealed    uint64    // seq of the last checkpoint record seen
	sealedAt  time.Time // its time
	fileStart time.Time // time of the first record in f; zero if empty
	down      error     // why the trail is unavailable; nil when writable
	retryAt   time.Time // when Record may try the disk again
	closed    bool
	opening   bool // f is empty and continues the chain of a rotated file
	buf       bytes.Buffer

	// Group commit: written counts lines this Log wrote; synced says up to
	// which count a sync has completed (or failed, see failed). One sync
	// runs at a time, outside syncMu; writers keep appending meanwhile and
	// wait on syncDone, and the next sync covers all of them.
	written  atomic.Uint64
	syncMu   sync.Mutex
	syncDone *sync.Cond // on syncMu, broadcast when a sync ends
	syncing  bool       // a sync is running
	cur      *os.File   // the file syncs go to; changed only when !syncing
	synced   uint64
	failed   []genRange // lines whose sync failed: never acknowledged

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

type genRange struct {
	lo, hi uint64 // (lo, hi]
	err    error
}

// encodeError marks a record that cannot be encoded: a caller's bug, not an
// unavailable trail.
type encodeError struct{ err error }

func (e encodeError) Error() string { return "audit: encode: " + e.err.Error() }
func (e encodeError) Unwrap() error { return e.err }

// Open opens the trail at opts.Path, creating it if needed, and reads the
// chain head from it (or from the newest rotated file if it is empty).
func Open(opts Options) (*Log, error) {
	if opts.Path == "" {
		return nil, errors.New("audit: open: no path")
	}
	switch opts.Fsync {
	case "":
		opts.Fsync = FsyncBatch
	case FsyncAlways, FsyncBatch:
	default:
		return nil, fmt.Errorf("audit: open: fsync mode %q (want always or batch)", opts.Fsync)
	}
	if opts.Signer != nil && len(opts.Signer) != ed25519.PrivateKeySize {
		return nil, errors.New("audit: open: signer is not an Ed25519 private key")
	}
	if opts.CheckpointEvery <= 0 {
		opts.CheckpointEvery = DefaultCheckpointEvery
	}
	if opts.CheckpointInterval <= 0 {
		opts.CheckpointInterval = DefaultCheckpointInterval
	}
	if opts.ProbeInterval <= 0 {
		opts.ProbeInterval = DefaultProbeInterval
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	l := &Log{opts: opts, kid: opts.KeyID, log: opts.Logger}
	l.syncDone = sync.NewCond(&l.syncMu)
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if opts.Signer != nil && l.kid == "" {
		l.kid = Thumbprint(opts.Signer.Public().(ed25519.PublicKey))
	}
	if err := os.MkdirAll(filepath.Dir(opts.Path), 0o700); err != nil {
		return nil, fmt.Errorf("audit: open: %w", err)
	}
	lockf, err := os.OpenFile(opts.Path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: open: %w", err)
	}
	l.lockf = lockf
	l.sealedAt = opts.Now()
	if err := l.locked(l.refreshLocked); err != nil {
		lockf.Close()
		if l.f != nil {
			l.f.Close()
		}
		return nil, fmt.Errorf("audit: open: %w", err)
	}
	l.stop, l.done = make(chan struct{}), make(chan struct{})
	go l.checkpointLoop()
	return l, nil
}

// Record appends e to the trail and returns once it is durable: synced by
// itself (FsyncAlways) or by a group sync that started after it was written
// (FsyncBatch). It fills Seq, Time (if zero; always converted to UTC), Prev
// and Hash.
//
// If the trail cannot be written, Record returns an error wrapping
// ErrUnavailable and the cause, reports it once on the operational log, and
// every later Record fails fast without touching the disk until
// ProbeInterval has passed; then the next Record tries again, and the trail
// resumes as soon as a write succeeds. A record whose write failed is cut
// back off the file, so the chain never contains a partial line.
//
// ctx is not used to abandon a write: the outcome of a cancelled call must
// still be recorded.
func (l *Log) Record(ctx context.Context, e *Event) error {
	if e.Event == "" {
		return errors.New("audit: record: event has no name")
	}
	if e.Event == CheckpointEvent || e.Checkpoint != nil {
		return errors.New("audit: record: checkpoints are written by the log itself")
	}
	gen, err := l.append(e)
	if err != nil {
		return err
	}
	if l.opts.Fsync == FsyncBatch {
		return l.waitSynced(gen)
	}
	return nil
}

// append writes e under both locks and returns its write generation.
func (l *Log) append(e *Event) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, fmt.Errorf("%w: log closed", ErrUnavailable)
	}
	now := l.opts.Now()
	if l.down != nil && now.Before(l.retryAt) {
		return 0, fmt.Errorf("%w: %w", ErrUnavailable, l.down)
	}
	var gen uint64
	var ckErr error
	err := l.locked(func() error {
		if err := l.refreshLocked(); err != nil {
			return err
		}
		if l.opening && l.opts.Signer != nil {
			// The file was created by a rotation interrupted before
			// its opening checkpoint: write it now.
			if _, err := l.checkpointLocked(now); err != nil {
				return err
			}
		}
		if l.rotateDue(now) {
			if err := l.rotateLocked(now); err != nil {
				return fmt.Errorf("rotate: %w", err)
			}
		}
		if e.Time.IsZero() {
			e.Time = now
		}
		e.Time = e.Time.UTC()
		g, err := l.writeLocked(e)
		if err != nil {
			return err
		}
		gen = g
		if l.checkpointDue(now) {
			if _, err := l.checkpointLocked(now); err != nil {
				// e is written; the trail is failing all the same.
				ckErr = fmt.Errorf("checkpoint: %w", err)
			}
		}
		return nil
	})
	if err == nil && l.opts.Fsync == FsyncAlways {
		err = l.f.Sync()
	}
	if err != nil {
		var ee encodeError
		if errors.As(err, &ee) {
			return 0, ee
		}
		return 0, l.fail(err, now)
	}
	if ckErr != nil {
		l.fail(ckErr, now)
	} else if l.down != nil {
		l.log.Info("audit trail is writable again", "path", l.opts.Path)
		l.down = nil
	}
	return gen, nil
}

// fail puts the log in the unavailable state. l.mu is held.
func (l *Log) fail(err error, now time.Time) error {
	if l.down == nil {
		l.log.Error("audit trail unavailable: refusing every call until it can be written",
			"path", l.opts.Path, "err", err)
	}
	l.down = err
	l.retryAt = now.Add(l.opts.ProbeInterval)
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// locked runs fn holding the cross-process file lock. l.mu is held.
func (l *Log) locked(fn func() error) error {
	if err := lockFile(l.lockf); err != nil {
		return fmt.Errorf("lock %s: %w", l.lockf.Name(), err)
	}
	err := fn()
	if uerr := unlockFile(l.lockf); uerr != nil && err == nil {
		err = fmt.Errorf("unlock %s: %w", l.lockf.Name(), uerr)
	}
	return err
}

// refreshLocked makes sure l.f is the file at Path and l.seq/l.head its
// last record: another process may have appended or rotated since our last
// append. Both locks are held.
func (l *Log) refreshLocked() error {
	st, err := os.Stat(l.opts.Path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if l.f == nil || err != nil || !os.SameFile(st, l.fi) {
		f, err := os.OpenFile(l.opts.Path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return err
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return err
		}
		l.switchFile(f, fi)
		return l.readHeadLocked()
	}
	if st.Size() != l.size {
		return l.readHeadLocked()
	}
	return nil
}

// switchFile makes f the file appends go to. Lines written to the previous
// file are synced first, so that no pending group sync is lost with it.
func (l *Log) switchFile(f *os.File, fi os.FileInfo) {
	l.syncMu.Lock()
	for l.syncing {
		l.syncDone.Wait()
	}
	if old := l.f; old != nil {
		target := l.written.Load()
		if err := old.Sync(); err != nil && target > l.synced {
			l.failed = append(l.failed, genRange{l.synced, target, err})
		}
		l.synced = max(l.synced, target)
		old.Close()
	}
	l.f, l.fi = f, fi
	l.cur = f
	l.syncMu.Unlock()
	l.size, l.fileStart = 0, time.Time{}
}

// headRecord is the part of a record the writer reads back.
type headRecord struct {
	Seq        uint64      `json:"seq"`
	Time       time.Time   `json:"time"`
	Event      string      `json:"event"`
	Checkpoint *Checkpoint `json:"checkpoint"`
	Prev       string      `json:"prev"`
	Hash       string      `json:"hash"`
}

// readHeadLocked reads the chain head from the end of l.f, cutting off a
// torn last line (a write that never completed, so was never
// acknowledged). An empty file continues the chain of the newest rotated
// file, if any.
func (l *Log) readHeadLocked() error {
	fi, err := l.f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	line, end, err := lastLine(l.f, size)
	if err != nil {
		return err
	}
	if end < size {
		l.log.Warn("audit trail ends with an incomplete record; cutting it off",
			"path", l.opts.Path, "bytes", size-end)
		if err := l.f.Truncate(end); err != nil {
			return err
		}
		size = end
	}
	l.size = size
	l.opening = false
	if line == nil {
		l.fileStart = time.Time{}
		line, err = l.rotatedHead()
		l.opening = line != nil
		if err != nil {
			return err
		}
		if line == nil {
			l.seq, l.head, l.headHex = 0, [hashSize]byte{}, ""
			return nil
		}
	} else if l.opts.RotateAge > 0 {
		l.fileStart = l.firstTime()
	}
	var h headRecord
	if err := json.Unmarshal(line, &h); err != nil {
		return fmt.Errorf("the trail's last record is unreadable (run keyhole audit verify): %w", err)
	}
	prev, err := hex.DecodeString(h.Prev)
	if err != nil {
		return errors.New("the trail's last record has an invalid prev (run keyhole audit verify)")
	}
	claimed, actual, err := lineHash(line, prev)
	if err != nil || claimed != actual || h.Seq == 0 {
		return errors.New("the trail's last record does not match its hash (run keyhole audit verify)")
	}
	l.seq, l.head, l.headHex = h.Seq, claimed, h.Hash
	if h.Event == CheckpointEvent && h.Seq > l.sealed {
		l.sealed, l.sealedAt = h.Seq, h.Time
	}
	return nil
}

// rotatedHead returns the last line of the newest non-empty file rotated
// away from Path, or nil.
func (l *Log) rotatedHead() ([]byte, error) {
	files, err := TrailFiles(l.opts.Path)
	if err != nil {
		return nil, err
	}
	for i := len(files) - 1; i >= 0; i-- {
		if files[i] == l.opts.Path {
			continue
		}
		f, err := os.Open(files[i])
		if err != nil {
			return nil, err
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, err
		}
		line, _, err := lastLine(f, fi.Size())
		f.Close()
		if err != nil {
			return nil, err
		}
		if line != nil {
			return line, nil
		}
	}
	return nil, nil
}

// firstTime returns the time of the first record of l.f, or now if it
// cannot be read (the file then rotates on age one RotateAge from now).
func (l *Log) firstTime() time.Time {
	var b [4096]byte
	n, _ := l.f.ReadAt(b[:], 0)
	if i := bytes.IndexByte(b[:n], '\n'); i > 0 {
		var h headRecord
		if json.Unmarshal(b[:i], &h) == nil && !h.Time.IsZero() {
			return h.Time
		}
	}
	return l.opts.Now()
}

// writeLocked chains, encodes and appends e. Both locks are held.
func (l *Log) writeLocked(e *Event) (uint64, error) {
	e.Seq = l.seq + 1
	e.Prev = l.headHex
	l.buf.Reset()
	if err := encodeRecord(&l.buf, e); err != nil {
		return 0, encodeError{err}
	}
	var prev []byte
	if l.seq > 0 {
		prev = l.head[:]
	}
	sum := sealLine(&l.buf, prev)
	n, err := l.f.Write(l.buf.Bytes())
	if err != nil {
		if n > 0 {
			// Never leave a partial line: it was not acknowledged, and a
			// torn record would break the chain for every later one.
			if terr := l.f.Truncate(l.size); terr != nil {
				err = errors.Join(err, fmt.Errorf("cut partial record: %w", terr))
			}
		}
		return 0, err // an *fs.PathError: "write <path>: <cause>"
	}
	if l.size == 0 {
		l.fileStart = e.Time
	}
	l.opening = false
	l.size += int64(n)
	l.seq, l.head = e.Seq, sum
	l.headHex = hex.EncodeToString(sum[:])
	e.Hash = l.headHex
	return l.written.Add(1), nil
}

func (l *Log) checkpointDue(now time.Time) bool {
	return l.opts.Signer != nil && l.seq > l.sealed &&
		(l.seq-l.sealed >= uint64(l.opts.CheckpointEvery) || now.Sub(l.sealedAt) >= l.opts.CheckpointInterval)
}

// checkpointLocked appends a signed checkpoint of the current head. Both
// locks are held.
func (l *Log) checkpointLocked(now time.Time) (uint64, error) {
	if l.opts.Signer == nil || l.seq == 0 {
		return 0, nil
	}
	e := &Event{
		Time:       now.UTC(),
		Event:      CheckpointEvent,
		Checkpoint: &Checkpoint{Seq: l.seq, Head: l.headHex, KeyID: l.kid},
	}
	signCheckpoint(e.Checkpoint, e.Time, l.opts.Signer)
	gen, err := l.writeLocked(e)
	if err != nil {
		return 0, err
	}
	l.sealed, l.sealedAt = e.Seq, now
	return gen, nil
}

func (l *Log) rotateDue(now time.Time) bool {
	if l.size == 0 {
		return false
	}
	return l.opts.RotateBytes > 0 && l.size >= l.opts.RotateBytes ||
		l.opts.RotateAge > 0 && !l.fileStart.IsZero() && now.Sub(l.fileStart) >= l.opts.RotateAge
}

// rotateLocked seals the current file with a checkpoint, renames it to
// base-<time>.ext and starts a new file at Path whose first record is a
// checkpoint of the same head, so each file both ends and begins with a
// signed statement of where the chain stands. Both locks are held.
func (l *Log) rotateLocked(now time.Time) error {
	if l.seq > l.sealed {
		if _, err := l.checkpointLocked(now); err != nil {
			return err
		}
	}
	if err := l.f.Sync(); err != nil {
		return err
	}
	name := rotatedName(l.opts.Path, now)
	for i := 1; ; i++ {
		if _, err := os.Lstat(name); errors.Is(err, fs.ErrNotExist) {
			break
		}
		name = rotatedName(l.opts.Path, now.Add(time.Duration(i)))
	}
	if err := os.Rename(l.opts.Path, name); err != nil {
		return err
	}
	f, err := os.OpenFile(l.opts.Path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	l.switchFile(f, fi)
	if err := syncDir(filepath.Dir(l.opts.Path)); err != nil {
		return err
	}
	l.log.Info("audit trail rotated", "path", l.opts.Path, "rotated", name, "seq", l.seq)
	_, err = l.checkpointLocked(now)
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// waitSynced returns once line gen is covered by a completed sync. The first
// waiter to find no sync running starts one for everything written so far;
// the others wait for it to end, and if their line came too late for it, one
// of them starts the next.
func (l *Log) waitSynced(gen uint64) error {
	l.syncMu.Lock()
	for gen > l.synced {
		if l.syncing {
			l.syncDone.Wait()
			continue
		}
		l.syncing = true
		target, f := l.written.Load(), l.cur
		l.syncMu.Unlock()
		err := f.Sync()
		l.syncMu.Lock()
		if err != nil {
			l.failed = append(l.failed, genRange{l.synced, target, err})
		}
		l.synced = max(l.synced, target)
		l.syncing = false
		l.syncDone.Broadcast()
	}
	var err error
	for _, r := range l.failed {
		if r.lo < gen && gen <= r.hi {
			err = r.err
		}
	}
	l.syncMu.Unlock()
	if err != nil {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.fail(err, l.opts.Now())
	}
	return nil
}

// checkpointLoop writes a checkpoint when CheckpointInterval passes with
// unsigned records and no Record to notice it.
func (l *Log) checkpointLoop() {
	defer close(l.done)
	if l.opts.Signer == nil {
		return
	}
	t := time.NewTicker(l.opts.CheckpointInterval)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			if gen := l.idleCheckpoint(); gen > 0 && l.opts.Fsync == FsyncBatch {
				l.waitSynced(gen)
			}
		}
	}
}

func (l *Log) idleCheckpoint() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.down != nil {
		return 0
	}
	now := l.opts.Now()
	var gen uint64
	err := l.locked(func() error {
		if err := l.refreshLocked(); err != nil {
			return err
		}
		if !l.checkpointDue(now) {
			return nil
		}
		g, err := l.checkpointLocked(now)
		gen = g
		return err
	})
	if err == nil && gen > 0 && l.opts.Fsync == FsyncAlways {
		err = l.f.Sync()
	}
	if err != nil {
		l.fail(fmt.Errorf("checkpoint: %w", err), now)
		return 0
	}
	return gen
}

// Close writes a final signed checkpoint (when records follow the last
// one), syncs and closes the trail. Later Records fail with ErrUnavailable.
func (l *Log) Close() error {
	var err error
	l.closeOnce.Do(func() {
		close(l.stop)
		<-l.done
		l.mu.Lock()
		defer l.mu.Unlock()
		l.closed = true
		now := l.opts.Now()
		if l.opts.Signer != nil && l.down == nil {
			err = l.locked(func() error {
				if err := l.refreshLocked(); err != nil {
					return err
				}
				if l.seq > l.sealed {
					_, err := l.checkpointLocked(now)
					return err
				}
				return nil
			})
		}
		l.syncMu.Lock()
		for l.syncing {
			l.syncDone.Wait()
		}
		target := l.written.Load()
		if serr := l.f.Sync(); serr != nil {
			l.failed = append(l.failed, genRange{l.synced, target, serr})
			if err == nil {
				err = serr
			}
		}
		// Records still waiting for a sync are covered by this one.
		l.synced = max(l.synced, target)
		l.syncMu.Unlock()
		if cerr := l.f.Close(); cerr != nil && err == nil {
			err = cerr
		}
		l.lockf.Close()
		if err != nil {
			err = fmt.Errorf("audit: close: %w", err)
		}
	})
	return err
}
