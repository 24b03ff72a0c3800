package audit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// rotatedTimeFormat names rotated files; it sorts lexically in time order.
const rotatedTimeFormat = "20060102T150405.000000000Z"

// rotatedName returns the name a trail file takes when it is rotated away:
// audit.jsonl becomes audit-20250102T030405.000000000Z.jsonl.
func rotatedName(path string, t time.Time) string {
	dir, base := filepath.Split(path)
	ext := filepath.Ext(base)
	return filepath.Join(dir, strings.TrimSuffix(base, ext)+"-"+t.UTC().Format(rotatedTimeFormat)+ext)
}

// TrailFiles returns the files that make up the trail at path, oldest first:
// the files rotated away from it (same directory, named base-<time>.ext) and
// path itself. If path is a directory, every *.jsonl file in it is part of
// the trail. Files are ordered by the seq of their first record, so that a
// renamed or copied file still falls in place; empty files come last.
func TrailFiles(path string) ([]string, error) {
	var files []string
	st, err := os.Stat(path)
	switch {
	case err == nil && st.IsDir():
		ents, err := os.ReadDir(path)
		if err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		for _, e := range ents {
			if e.Type().IsRegular() && strings.HasSuffix(e.Name(), ".jsonl") {
				files = append(files, filepath.Join(path, e.Name()))
			}
		}
	case err == nil || errors.Is(err, fs.ErrNotExist):
		dir, base := filepath.Split(path)
		if dir == "" {
			dir = "."
		}
		ext := filepath.Ext(base)
		prefix := strings.TrimSuffix(base, ext) + "-"
		ents, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		for _, e := range ents {
			n := e.Name()
			if e.Type().IsRegular() && strings.HasPrefix(n, prefix) && strings.HasSuffix(n, ext) &&
				len(n) > len(prefix)+len(ext) {
				if _, terr := time.Parse(rotatedTimeFormat, strings.TrimSuffix(strings.TrimPrefix(n, prefix), ext)); terr == nil {
					files = append(files, filepath.Join(filepath.Dir(path), n))
				}
			}
		}
		if err == nil {
			files = append(files, path)
		}
	default:
		return nil, fmt.Errorf("audit: %w", err)
	}
	return sortByFirstSeq(files)
}

// sortByFirstSeq orders files by the seq of their first record.
func sortByFirstSeq(files []string) ([]string, error) {
	type entry struct {
		name string
		seq  uint64
	}
	es := make([]entry, 0, len(files))
	for _, name := range files {
		seq, err := firstSeq(name)
		if errors.Is(err, fs.ErrNotExist) {
			continue // the current file, renamed away by a rotation this instant
		}
		if err != nil {
			return nil, err
		}
		es = append(es, entry{name, seq})
	}
	slices.SortStableFunc(es, func(a, b entry) int {
		if a.seq != b.seq {
			if a.seq < b.seq {
				return -1
			}
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.name
	}
	return out, nil
}

// firstSeq returns the seq of the first record of a file, or MaxUint64 when
// the file has no readable first record. Seq is the first field of every
// record, so the start of the line is enough.
func firstSeq(name string) (uint64, error) {
	f, err := os.Open(name)
	if err != nil {
		return 0, fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	var b [64]byte
	n, err := io.ReadFull(f, b[:])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("audit: %s: %w", name, err)
	}
	rest, ok := bytes.CutPrefix(b[:n], []byte(`{"seq":`))
	if !ok {
		return math.MaxUint64, nil
	}
	i := 0
	for i < len(rest) && '0' <= rest[i] && rest[i] <= '9' {
		i++
	}
	seq, err := strconv.ParseUint(string(rest[:i]), 10, 64)
	if err != nil {
		return math.MaxUint64, nil
	}
	return seq, nil
}

// lastLine returns the last complete line of f (without its newline), which
// is size bytes long, and the offset just past it. When f does not end with a
// newline, the bytes after the last newline are a torn write: end reports
// where the complete lines stop.
func lastLine(f *os.File, size int64) (line []byte, end int64, err error) {
	const chunk = 64 << 10
	var buf []byte
	pos := size
	end = -1
	for pos > 0 {
		n := int64(chunk)
		if n > pos {
			n = pos
		}
		pos -= n
		b := make([]byte, n)
		if _, err := f.ReadAt(b, pos); err != nil {
			return nil, 0, err
		}
		buf = append(b, buf...)
		if end < 0 {
			if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
				end = pos + int64(i) + 1
			} else {
				continue
			}
		}
		// buf starts at pos; the last line ends at end-1.
		rel := int(end - pos - 1)
		if i := bytes.LastIndexByte(buf[:rel], '\n'); i >= 0 {
			return buf[i+1 : rel], end, nil
		}
		if pos == 0 {
			return buf[:rel], end, nil
		}
	}
	if end < 0 {
		return nil, 0, nil // no complete line
	}
	return buf[:end-1], end, nil
}
