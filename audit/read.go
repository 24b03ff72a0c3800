package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Filter selects records for search and export. Zero fields match
// everything; set fields must all match.
type Filter struct {
	Agent string
	// Session matches the full session id, or the start of its short form
	// (the last path segment, as tail shows it).
	Session string
	Grant   string
	// Event matches the event name, or a family: "query" or "query."
	// matches every query.* event.
	Event string
	Code  string
	Since time.Time // inclusive
	Until time.Time // exclusive
}

// Match reports whether e passes the filter.
func (f *Filter) Match(e *Event) bool {
	switch {
	case f.Agent != "" && e.Agent != f.Agent,
		f.Grant != "" && e.Grant != f.Grant,
		f.Code != "" && !strings.EqualFold(e.Code, f.Code),
		!f.Since.IsZero() && e.Time.Before(f.Since),
		!f.Until.IsZero() && !e.Time.Before(f.Until):
		return false
	}
	if f.Session != "" && e.Session != f.Session &&
		!strings.HasPrefix(SessionShort(e.Session), f.Session) {
		return false
	}
	if f.Event != "" && e.Event != f.Event &&
		!strings.HasPrefix(e.Event, strings.TrimSuffix(f.Event, ".")+".") {
		return false
	}
	return true
}

// SessionShort returns the last path segment of a session id (a SPIFFE id
// ends with the session's own id), at most 8 characters: enough to tell
// sessions apart in a listing.
func SessionShort(id string) string {
	if i := strings.LastIndexByte(id, '/'); i >= 0 {
		id = id[i+1:]
	}
	if len(id) > 8 {
		id = id[:8]
	}
	return id
}

// ScanFunc receives one record: line is its bytes on the trail, without
// the newline, valid only during the call; e is nil when the line is not a
// record (verify says more).
type ScanFunc func(line []byte, e *Event) error

// Scan calls fn for every complete line of files, in order. An incomplete
// last line (being written, or torn) is skipped.
func Scan(ctx context.Context, files []string, fn ScanFunc) error {
	for _, name := range files {
		if err := scanFile(ctx, name, fn); err != nil {
			return err
		}
	}
	return nil
}

func scanFile(ctx context.Context, name string, fn ScanFunc) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 256<<10)
	for n := 0; ; n++ {
		if n&0xfff == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		line, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("audit: %s: %w", name, err)
		}
		if err := emit(line[:len(line)-1], fn); err != nil {
			return err
		}
	}
}

func emit(line []byte, fn ScanFunc) error {
	var e Event
	if json.Unmarshal(line, &e) != nil {
		return fn(line, nil)
	}
	return fn(line, &e)
}

// TailOptions configure Tail.
type TailOptions struct {
	// N is how many of the last records to show first (0: none).
	N int
	// Follow keeps reading records as they are appended, across rotations,
	// until ctx ends.
	Follow bool
	// Poll is how often a followed trail is checked for growth (default
	// 250ms).
	Poll time.Duration
}

// Tail calls fn for the last opts.N records of the trail at path (across
// rotated files), then, with Follow, for every record appended after them
// until ctx is done, when it returns nil.
func Tail(ctx context.Context, path string, opts TailOptions, fn ScanFunc) error {
	files, err := TrailFiles(path)
	if err != nil {
		return err
	}
	// Open the current file first, so that the records shown and those
	// followed meet exactly at its size now.
	fl := &follower{path: path, fn: fn}
	defer func() {
		if fl.f != nil {
			fl.f.Close()
		}
	}()
	var offset int64
	if fl.f, err = os.Open(path); err == nil {
		fi, err := fl.f.Stat()
		if err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		offset = fi.Size()
	} else if !opts.Follow || !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("audit: %w", err)
	} else {
		fl.f = nil
	}
	if opts.N > 0 {
		var lines [][]byte
		for i := len(files) - 1; i >= 0 && len(lines) < opts.N; i-- {
			size := int64(-1)
			if files[i] == path {
				size = offset
			}
			ls, err := tailLines(files[i], size, opts.N-len(lines))
			if err != nil {
				return err
			}
			lines = append(ls, lines...)
		}
		for _, line := range lines {
			if err := emit(line, fn); err != nil {
				return err
			}
		}
	}
	if !opts.Follow {
		return nil
	}
	if opts.Poll <= 0 {
		opts.Poll = 250 * time.Millisecond
	}
	if fl.f != nil {
		// Follow from the end of the last complete line.
		if _, err := fl.f.Seek(completeEnd(fl.f, offset), io.SeekStart); err != nil {
			return fmt.Errorf("audit: %w", err)
		}
	}
	t := time.NewTicker(opts.Poll)
	defer t.Stop()
	for {
		if err := fl.poll(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// completeEnd returns the offset after the last newline in f's first size
// bytes.
func completeEnd(f *os.File, size int64) int64 {
	_, end, err := lastLine(f, size)
	if err != nil || end < 0 {
		return 0
	}
	return end
}

// follower reads a trail as it grows.
type follower struct {
	path    string
	f       *os.File
	pending []byte
	fn      ScanFunc
}

// poll reads what was appended since the last call, and moves on when the
// trail was rotated: through every file rotated away since (several
// rotations may happen between two polls), then to the new file at path.
func (fl *follower) poll() error {
	if fl.f != nil {
		if err := fl.drain(); err != nil {
			return err
		}
	}
	st, err := os.Stat(fl.path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil // mid-rotation, or not created yet
		}
		return fmt.Errorf("audit: %w", err)
	}
	if fl.f != nil {
		fi, err := fl.f.Stat()
		if err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		if os.SameFile(st, fi) {
			return nil
		}
		// Rotated: the old file is complete (the writer sealed it
		// before renaming it); drain it once more, then read the files
		// rotated after it.
		if err := fl.drain(); err != nil {
			return err
		}
		fl.f.Close()
		fl.f = nil
		// Open the new file before listing, so that the files read in
		// between are exactly those rotated away before it.
		f, err := os.Open(fl.path)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return fmt.Errorf("audit: %w", err)
		}
		if st, err = f.Stat(); err != nil {
			f.Close()
			return fmt.Errorf("audit: %w", err)
		}
		files, err := TrailFiles(fl.path)
		if err != nil {
			f.Close()
			return err
		}
		after := false
		for _, name := range files {
			if name == fl.path {
				// Not a rotated file: what the name holds may have
				// changed since f was opened (another rotation), and
				// f is read next anyway.
				continue
			}
			nst, err := os.Stat(name)
			if err != nil {
				continue
			}
			switch {
			case os.SameFile(nst, st):
				after = false
			case os.SameFile(nst, fi):
				after = true
			case after:
				if err := fl.whole(name); err != nil {
					f.Close()
					return err
				}
			}
		}
		fl.f, fl.pending = f, nil
		return fl.drain()
	}
	f, err := os.Open(fl.path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("audit: %w", err)
	}
	fl.f, fl.pending = f, nil
	return fl.drain()
}

// whole reads a rotated file from start to end.
func (fl *follower) whole(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	fl.f, fl.pending = f, nil
	err = fl.drain()
	fl.f = nil
	return err
}

func (fl *follower) drain() error {
	buf := make([]byte, 64<<10)
	for {
		n, err := fl.f.Read(buf)
		fl.pending = append(fl.pending, buf[:n]...)
		for {
			i := bytes.IndexByte(fl.pending, '\n')
			if i < 0 {
				break
			}
			if err := emit(fl.pending[:i], fl.fn); err != nil {
				return err
			}
			fl.pending = fl.pending[i+1:]
		}
		if errors.Is(err, io.EOF) || n == 0 {
			fl.pending = bytes.Clone(fl.pending)
			return nil
		}
		if err != nil {
			return fmt.Errorf("audit: %w", err)
		}
	}
}

// tailLines returns up to n of the last complete lines among the first size
// bytes of a file (size < 0: the whole file).
func tailLines(name string, size int64, n int) ([][]byte, error) {
	if n <= 0 {
		return nil, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	if size < 0 {
		fi, err := f.Stat()
		if err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		size = fi.Size()
	}
	const chunk = 64 << 10
	var buf []byte
	pos := size
	for pos > 0 && bytes.Count(buf, []byte{'\n'}) <= n {
		k := min(int64(chunk), pos)
		pos -= k
		b := make([]byte, k, k+int64(len(buf)))
		if _, err := f.ReadAt(b, pos); err != nil {
			return nil, fmt.Errorf("audit: %s: %w", name, err)
		}
		buf = append(b, buf...)
	}
	// Drop a torn or in-progress last line, and a first line that may
	// have been cut by the chunking.
	if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
		buf = buf[:i]
	} else {
		return nil, nil
	}
	lines := bytes.Split(buf, []byte{'\n'})
	if pos > 0 {
		lines = lines[1:]
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines, nil
}
