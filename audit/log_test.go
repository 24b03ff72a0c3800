package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRecordFillsChain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	clk := newClock()
	l, err := Open(Options{Path: path, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var prev string
	for i := range 3 {
		e := testEvent(i)
		if err := l.Record(ctx, e); err != nil {
			t.Fatal(err)
		}
		if e.Seq != uint64(i+1) || e.Prev != prev || len(e.Hash) != 64 || e.Time.IsZero() || e.Time.Location() != time.UTC {
			t.Fatalf("record %d: seq %d prev %q hash %q time %v", i, e.Seq, e.Prev, e.Hash, e.Time)
		}
		prev = e.Hash
	}
	// A caller's time is kept, in UTC.
	at := time.Date(2024, 1, 1, 12, 0, 0, 0, time.FixedZone("CET", 3600))
	e := &Event{Event: SessionStart, Time: at}
	if err := l.Record(ctx, e); err != nil {
		t.Fatal(err)
	}
	if !e.Time.Equal(at) || e.Time.Location() != time.UTC {
		t.Errorf("time = %v, want %v in UTC", e.Time, at)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// Without a signer there are no checkpoints: everything is unsealed.
	rep := verifyPath(t, path, nil)
	if rep.Problem != nil || rep.Records != 4 || rep.Unsealed != 4 || rep.Head != prev2(t, path) {
		t.Fatalf("report:\n%s", rep)
	}
	if err := l.Record(ctx, testEvent(9)); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Record after Close = %v, want ErrUnavailable", err)
	}
}

func prev2(t *testing.T, path string) string {
	lines := readLines(t, path)
	var e Event
	json.Unmarshal(lines[len(lines)-1], &e)
	return e.Hash
}

func TestRecordRefusesForgedCheckpoints(t *testing.T) {
	l, err := Open(Options{Path: filepath.Join(t.TempDir(), "audit.jsonl")})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	for _, e := range []*Event{
		{Event: CheckpointEvent},
		{Event: QueryAllowed, Checkpoint: &Checkpoint{}},
		{},
		{Event: QueryAllowed, Meta: json.RawMessage(`{not json`)},
	} {
		if err := l.Record(ctx, e); err == nil || errors.Is(err, ErrUnavailable) {
			t.Errorf("Record(%+v) = %v, want a plain error", e, err)
		}
	}
	// A refused event does not put the log out of service.
	if err := l.Record(ctx, testEvent(1)); err != nil {
		t.Fatal(err)
	}
}

func TestReopenContinuesChain(t *testing.T) {
	dir := t.TempDir()
	path := writeTrail(t, dir, 7, nil)
	path2 := writeTrail(t, dir, 7, nil) // same file, a second run
	if path != path2 {
		t.Fatal("paths differ")
	}
	rep := verifyPath(t, path, keysFor(goldenKey()))
	if rep.ExitCode() != ExitIntact || rep.LastSeq != 7+1+1+7+1+1 {
		t.Fatalf("exit %d:\n%s", rep.ExitCode(), rep)
	}
}

func TestCheckpointInterval(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	clk := newClock()
	l, err := Open(Options{Path: path, Signer: goldenKey(), CheckpointEvery: 1000, CheckpointInterval: time.Minute, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	l.Record(ctx, testEvent(1))
	l.Record(ctx, testEvent(2))
	clk.advance(time.Minute)
	l.Record(ctx, testEvent(3)) // due: a checkpoint follows it
	l.Record(ctx, testEvent(4))
	rep := verifyPath(t, path, keysFor(goldenKey()))
	if rep.Problem != nil || rep.Checkpoints != 1 || rep.LastCheckpoint.Covers != 3 || rep.Unsealed != 1 {
		t.Fatalf("report:\n%s", rep)
	}
	l.Close()
	rep = verifyPath(t, path, keysFor(goldenKey()))
	if rep.ExitCode() != ExitIntact || rep.Checkpoints != 2 {
		t.Fatalf("after Close:\n%s", rep)
	}
	// Close of a sealed trail adds nothing.
	l, _ = Open(Options{Path: path, Signer: goldenKey(), Now: clk.Now})
	l.Close()
	if rep2 := verifyPath(t, path, keysFor(goldenKey())); rep2.LastSeq != rep.LastSeq {
		t.Errorf("an idle open and close added records: %d -> %d", rep.LastSeq, rep2.LastSeq)
	}
}

func TestRotation(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	path := writeTrail(t, dir, 100, func(o *Options) {
		o.RotateBytes = 4096
		o.CheckpointEvery = 10
		o.Now = clk.Now
	})
	files, err := TrailFiles(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 5 || files[len(files)-1] != path {
		t.Fatalf("files = %v", files)
	}
	rep := verifyPath(t, path, keysFor(goldenKey()))
	if rep.ExitCode() != ExitIntact || rep.FirstSeq != 1 {
		t.Fatalf("exit %d:\n%s", rep.ExitCode(), rep)
	}
	// Every file but the first starts with a checkpoint continuing the
	// previous file's chain, and every file ends with one.
	for i, f := range files {
		lines := readLines(t, f)
		var first, last Event
		json.Unmarshal(lines[0], &first)
		json.Unmarshal(lines[len(lines)-1], &last)
		if i > 0 && first.Event != CheckpointEvent || last.Event != CheckpointEvent {
			t.Errorf("%s: starts with %s, ends with %s", f, first.Event, last.Event)
		}
		if fi, _ := os.Stat(f); i < len(files)-1 && fi.Size() > 4096+1024 {
			t.Errorf("%s: %d bytes, rotation at 4096", f, fi.Size())
		}
		// A rotated file verifies on its own, its chain starting at its
		// opening checkpoint.
		rep, err := Verify(context.Background(), []string{f}, keysFor(goldenKey()))
		if err != nil || rep.ExitCode() != ExitIntact || rep.Partial != (i > 0) {
			t.Errorf("%s alone: %v\n%s", f, err, rep)
		}
	}
	// The directory verifies as a whole too.
	if rep := verifyPath(t, dir, keysFor(goldenKey())); rep.ExitCode() != ExitIntact || rep.Records != rep.LastSeq {
		t.Errorf("directory:\n%s", rep)
	}
	// Removing a middle file is caught.
	os.Remove(files[2])
	rep = verifyPath(t, path, keysFor(goldenKey()))
	if p := rep.Problem; p == nil || p.Kind != Removed || p.File != files[3] || p.Line != 1 {
		t.Fatalf("middle file removed:\n%s", rep)
	}
}

func TestRotationByAge(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	clk := newClock()
	l, err := Open(Options{Path: path, Signer: goldenKey(), RotateAge: time.Hour, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	l.Record(ctx, testEvent(1))
	clk.advance(59 * time.Minute)
	l.Record(ctx, testEvent(2))
	clk.advance(time.Minute)
	l.Record(ctx, testEvent(3)) // the file's first record is an hour old
	l.Close()
	files, _ := TrailFiles(path)
	if len(files) != 2 {
		t.Fatalf("files = %v", files)
	}
	if rep := verifyPath(t, path, keysFor(goldenKey())); rep.ExitCode() != ExitIntact {
		t.Fatalf("exit %d:\n%s", rep.ExitCode(), rep)
	}
}

// Many goroutines, two Logs on one trail (as two processes would be), both
// fsync modes: one chain, no record lost.
func TestConcurrentRecords(t *testing.T) {
	for _, mode := range []FsyncMode{FsyncAlways, FsyncBatch} {
		t.Run(string(mode), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.jsonl")
			var logs []*Log
			for range 2 {
				l, err := Open(Options{Path: path, Fsync: mode, Signer: goldenKey(), CheckpointEvery: 25, RotateBytes: 16 << 10})
				if err != nil {
					t.Fatal(err)
				}
				logs = append(logs, l)
			}
			const writers, each = 8, 40
			var wg sync.WaitGroup
			hashes := make(chan string, writers*each)
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range each {
						e := testEvent(w*each + i)
						if err := logs[w%2].Record(context.Background(), e); err != nil {
							t.Error(err)
							return
						}
						hashes <- e.Hash
					}
				}()
			}
			wg.Wait()
			close(hashes)
			for _, l := range logs {
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
			}
			rep := verifyPath(t, path, keysFor(goldenKey()))
			if rep.ExitCode() != ExitIntact {
				t.Fatalf("exit %d:\n%s", rep.ExitCode(), rep)
			}
			files, _ := TrailFiles(path)
			onDisk := map[string]bool{}
			n := 0
			Scan(context.Background(), files, func(line []byte, e *Event) error {
				onDisk[e.Hash] = true
				if e.Event != CheckpointEvent {
					n++
				}
				return nil
			})
			if n != writers*each {
				t.Errorf("%d records on disk, want %d", n, writers*each)
			}
			for h := range hashes {
				if !onDisk[h] {
					t.Errorf("acknowledged record %s is not on disk", h)
				}
			}
		})
	}
}

// A crash in the middle of a write leaves a torn line; the next writer cuts
// it off (it was never acknowledged) and continues the chain.
func TestTornTailRepaired(t *testing.T) {
	dir := t.TempDir()
	path := writeTrail(t, dir, 4, nil)
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"seq":7,"time":"2025-`)
	f.Close()
	if rep := verifyPath(t, path, keysFor(goldenKey())); rep.Problem == nil || rep.Problem.Kind != Truncated {
		t.Fatalf("torn tail not reported:\n%s", rep)
	}
	var logged bytes.Buffer
	writeTrail(t, dir, 2, func(o *Options) { o.Logger = newTextLogger(&logged) })
	if rep := verifyPath(t, path, keysFor(goldenKey())); rep.ExitCode() != ExitIntact {
		t.Fatalf("after repair:\n%s", rep)
	}
	if !strings.Contains(logged.String(), "incomplete record") {
		t.Errorf("repair not logged: %s", logged.String())
	}
}

// A trail whose last record was tampered with is not continued: writing
// after it would hide the damage under a fresh chain.
func TestOpenRefusesDamagedTail(t *testing.T) {
	dir := t.TempDir()
	path := writeTrail(t, dir, 4, nil)
	lines := readLines(t, path)
	last := len(lines) - 1
	lines[last] = bytes.Replace(lines[last], []byte(`"checkpoint"`), []byte(`"checkpoinT"`), 1)
	writeLines(t, path, lines)
	if _, err := Open(Options{Path: path}); err == nil || !strings.Contains(err.Error(), "verify") {
		t.Fatalf("Open = %v, want a refusal", err)
	}
}

// A crash between renaming the full file away and writing the new file's
// opening checkpoint: the next writer continues the chain from the rotated
// file and writes the opening checkpoint.
func TestInterruptedRotation(t *testing.T) {
	dir := t.TempDir()
	path := writeTrail(t, dir, 7, nil)
	if err := os.Rename(path, rotatedName(path, goldenTime)); err != nil {
		t.Fatal(err)
	}
	writeTrail(t, dir, 3, nil)
	if rep := verifyPath(t, path, keysFor(goldenKey())); rep.ExitCode() != ExitIntact || rep.Records != 9+1+3+1 {
		t.Fatalf("exit %d:\n%s", rep.ExitCode(), rep)
	}
	rep, err := Verify(context.Background(), []string{path}, keysFor(goldenKey()))
	if err != nil || rep.ExitCode() != ExitIntact || !rep.Partial {
		t.Fatalf("new file alone: %v\n%s", err, rep)
	}
}

func TestOptionsHideSigner(t *testing.T) {
	o := Options{Path: "a", Signer: goldenKey(), KeyID: "k"}
	for _, s := range []string{fmt.Sprint(o), fmt.Sprintf("%+v", o), fmt.Sprintf("%v", &o)} {
		if strings.Contains(s, fmt.Sprint(goldenKey())) || strings.Contains(s, fmt.Sprint([]byte(goldenKey()))) || strings.Contains(s, "Signer") {
			t.Errorf("Options print the key: %s", s)
		}
	}
}

// A Record waiting for its group sync while the log closes is acknowledged
// by Close's sync, not failed.
func TestCloseCoversWaiters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	l, err := Open(Options{Path: path, Signer: goldenKey()})
	if err != nil {
		t.Fatal(err)
	}
	gen, err := l.append(testEvent(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.waitSynced(gen); err != nil {
		t.Fatalf("waiter after Close: %v", err)
	}
}
