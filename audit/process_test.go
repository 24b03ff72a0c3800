//go:build unix

package audit

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// These tests run the writer in child processes: the test binary again,
// with childEnv naming the part to play. A child reports each record whose
// Record returned nil on stdout, as "ack <seq> <hash>", before anything
// else can happen to it.

func runChild(role, path string) int {
	var err error
	switch role {
	case "crash":
		err = crashChild(path)
	case "diskfull":
		err = diskFullChild(path)
	case "append":
		err = appendChild(path)
	default:
		err = fmt.Errorf("unknown role %q", role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}

// acker writes acknowledgements to stdout, one write per line (atomic on a
// pipe), so a kill never leaves half of one.
type acker struct{ mu sync.Mutex }

func (a *acker) ack(e *Event) {
	a.mu.Lock()
	fmt.Fprintf(os.Stdout, "ack %d %s\n", e.Seq, e.Hash)
	a.mu.Unlock()
}

func say(format string, args ...any) { fmt.Fprintf(os.Stdout, format+"\n", args...) }

// crashChild records from 16 goroutines until it is killed.
func crashChild(path string) error {
	l, err := Open(Options{Path: path, Fsync: FsyncBatch, Signer: goldenKey(), CheckpointEvery: 50, RotateBytes: 64 << 10})
	if err != nil {
		return err
	}
	var a acker
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				e := testEvent(w*1_000_000 + i)
				if err := l.Record(context.Background(), e); err != nil {
					fmt.Fprintln(os.Stderr, "child:", err)
					return
				}
				a.ack(e)
			}
		}()
	}
	wg.Wait()
	return errors.New("writers stopped")
}

type child struct {
	cmd   *exec.Cmd
	out   *bufio.Scanner
	stdin io.WriteCloser
	acks  map[uint64]string // seq -> hash
	said  []string
}

func startChild(t *testing.T, role, path string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+role, childPathEnv+"="+path)
	cmd.Stderr = &testWriter{t: t}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return &child{cmd: cmd, out: bufio.NewScanner(stdout), stdin: stdin, acks: map[uint64]string{}}
}

// read consumes the child's output until a line other than an ack, which it
// returns ("" at the end of the output).
func (c *child) read() string {
	for c.out.Scan() {
		line := c.out.Text()
		if rest, ok := strings.CutPrefix(line, "ack "); ok {
			seq, hash, _ := strings.Cut(rest, " ")
			n, _ := strconv.ParseUint(seq, 10, 64)
			c.acks[n] = hash
			continue
		}
		c.said = append(c.said, line)
		return line
	}
	return ""
}

type testWriter struct{ t *testing.T }

func (w *testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// checkAcked fails unless every acknowledged record is on disk as it was
// acknowledged.
func checkAcked(t *testing.T, path string, acks map[uint64]string) {
	t.Helper()
	files, err := TrailFiles(path)
	if err != nil {
		t.Fatal(err)
	}
	onDisk := map[uint64]string{}
	err = Scan(context.Background(), files, func(line []byte, e *Event) error {
		if e == nil {
			return fmt.Errorf("not a record: %s", line)
		}
		onDisk[e.Seq] = e.Hash
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for seq, hash := range acks {
		if onDisk[seq] != hash {
			t.Errorf("acknowledged record seq %d (%s) is not on disk (found %q)", seq, hash, onDisk[seq])
		}
	}
}

// TestCrash kills a writer with SIGKILL in the middle of a load of
// concurrent records: what is on disk verifies, and every record the writer
// acknowledged is there.
func TestCrash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	c := startChild(t, "crash", path)
	// Wait for a good number of acknowledgements, then kill.
	for c.out.Scan() {
		if rest, ok := strings.CutPrefix(c.out.Text(), "ack "); ok {
			seq, hash, _ := strings.Cut(rest, " ")
			n, _ := strconv.ParseUint(seq, 10, 64)
			c.acks[n] = hash
		}
		if len(c.acks) == 1500 {
			break
		}
	}
	if err := c.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	c.read() // acknowledgements already in the pipe
	c.cmd.Wait()
	if len(c.acks) < 1500 {
		t.Fatalf("child acknowledged only %d records", len(c.acks))
	}

	keys := keysFor(goldenKey())
	rep := verifyPath(t, path, keys)
	if rep.Problem != nil {
		t.Fatalf("after kill -9:\n%s", rep)
	}
	t.Logf("after kill -9, %d acknowledged:\n%s", len(c.acks), rep)
	checkAcked(t, path, c.acks)

	// The next keyhole continues the chain and seals it.
	l, err := Open(Options{Path: path, Signer: goldenKey()})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Record(context.Background(), testEvent(1)); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if rep := verifyPath(t, path, keys); rep.ExitCode() != ExitIntact {
		t.Fatalf("after restart:\n%s", rep)
	}
}

// diskFullChild writes under a 16 KiB file size limit, with SIGXFSZ ignored
// so that writes past it fail with EFBIG, as they would with ENOSPC on a
// full disk. The parent tells it when space returns.
func diskFullChild(path string) error {
	signal.Ignore(syscall.SIGXFSZ)
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		return err
	}
	full := lim
	full.Cur = 16 << 10
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &full); err != nil {
		return err
	}
	clk := newClock()
	l, err := Open(Options{Path: path, Fsync: FsyncBatch, Signer: goldenKey(), CheckpointEvery: 7, Now: clk.Now,
		Logger: newTextLogger(os.Stderr)})
	if err != nil {
		return err
	}
	var a acker
	ctx := context.Background()

	// Four writers until the limit: each stops at its first failure.
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10_000; i++ {
				e := testEvent(w*10_000 + i)
				if err := l.Record(ctx, e); err != nil {
					errs <- err
					return
				}
				a.ack(e)
			}
			errs <- errors.New("never hit the limit")
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, ErrUnavailable) || !errors.Is(err, syscall.EFBIG) {
			return fmt.Errorf("Record at the limit = %v, want ErrUnavailable and EFBIG", err)
		}
	}
	// Failing fast: the disk is not touched.
	fi, _ := os.Stat(path)
	if err := l.Record(ctx, testEvent(1)); !errors.Is(err, ErrUnavailable) {
		return fmt.Errorf("Record while unavailable = %v", err)
	}
	if fi2, _ := os.Stat(path); fi2.Size() != fi.Size() {
		return fmt.Errorf("a failing-fast Record changed the file: %d -> %d", fi.Size(), fi2.Size())
	}
	say("full %d", fi.Size())

	// Space returns, but the probe interval has not passed: still refused.
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		return err
	}
	if err := l.Record(ctx, testEvent(2)); !errors.Is(err, ErrUnavailable) {
		return fmt.Errorf("Record before the probe = %v", err)
	}
	clk.advance(DefaultProbeInterval)
	for i := range 20 {
		e := testEvent(100 + i)
		if err := l.Record(ctx, e); err != nil {
			return fmt.Errorf("Record after space returned: %w", err)
		}
		a.ack(e)
	}
	say("resumed")
	return l.Close()
}

func TestDiskFull(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	c := startChild(t, "diskfull", path)
	full := c.read()
	resumed := c.read()
	c.read()
	if err := c.cmd.Wait(); err != nil || !strings.HasPrefix(full, "full ") || resumed != "resumed" {
		t.Fatalf("child: %v, said %q", err, c.said)
	}
	size, _ := strconv.Atoi(strings.TrimPrefix(full, "full "))
	if size > 16<<10 {
		t.Errorf("file grew past the limit: %d", size)
	}
	rep := verifyPath(t, path, keysFor(goldenKey()))
	if rep.ExitCode() != ExitIntact {
		t.Fatalf("exit %d:\n%s", rep.ExitCode(), rep)
	}
	checkAcked(t, path, c.acks)
	// Nothing on disk that was refused, apart from what was written and
	// then failed to sync (none here: the limit fails writes, not syncs).
	n := 0
	files, _ := TrailFiles(path)
	Scan(context.Background(), files, func(line []byte, e *Event) error {
		if e.Event != CheckpointEvent {
			n++
			if _, ok := c.acks[e.Seq]; !ok {
				t.Errorf("record seq %d is on disk but was refused", e.Seq)
			}
		}
		return nil
	})
	t.Logf("%d records acknowledged, %d on disk, limit hit at %d bytes:\n%s", len(c.acks), n, size, rep)
}

// appendChild waits for "go" on stdin, then records from 4 goroutines.
func appendChild(path string) error {
	l, err := Open(Options{Path: path, Fsync: FsyncBatch, Signer: goldenKey(), CheckpointEvery: 30, RotateBytes: 32 << 10})
	if err != nil {
		return err
	}
	say("ready")
	if line, _ := bufio.NewReader(os.Stdin).ReadString('\n'); line != "go\n" {
		return fmt.Errorf("got %q", line)
	}
	var a acker
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 150 {
				e := testEvent(w*1000 + i)
				e.Agent = fmt.Sprintf("pid%d", os.Getpid())
				if err := l.Record(context.Background(), e); err != nil {
					errs <- err
					return
				}
				a.ack(e)
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	return l.Close()
}

// TestMultiProcessAppend has two processes append to one trail at once,
// rotating it as they go: the chain never forks.
func TestMultiProcessAppend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	children := []*child{startChild(t, "append", path), startChild(t, "append", path)}
	for _, c := range children {
		if got := c.read(); got != "ready" {
			t.Fatalf("child said %q", got)
		}
	}
	for _, c := range children {
		io.WriteString(c.stdin, "go\n")
	}
	acks := map[uint64]string{}
	for _, c := range children {
		c.read()
		if err := c.cmd.Wait(); err != nil {
			t.Fatal(err)
		}
		for seq, h := range c.acks {
			if _, dup := acks[seq]; dup {
				t.Errorf("both processes acknowledged seq %d: the chain forked", seq)
			}
			acks[seq] = h
		}
	}
	if len(acks) != 2*4*150 {
		t.Errorf("%d acknowledged, want %d", len(acks), 2*4*150)
	}
	rep := verifyPath(t, path, keysFor(goldenKey()))
	if rep.ExitCode() != ExitIntact {
		t.Fatalf("exit %d:\n%s", rep.ExitCode(), rep)
	}
	checkAcked(t, path, acks)
	// The two processes' records interleave in the chain.
	files, _ := TrailFiles(path)
	switches, last := 0, ""
	Scan(context.Background(), files, func(_ []byte, e *Event) error {
		if e.Agent != "" && e.Agent != last {
			switches++
			last = e.Agent
		}
		return nil
	})
	t.Logf("%d files, writer switched %d times:\n%s", len(files), switches, rep)
	if len(files) < 3 {
		t.Errorf("expected rotations, got files %v", files)
	}
}
