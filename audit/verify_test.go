package audit

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The trail used by TestVerifyTampering: 20 records with a checkpoint after
// every 5, so lines 6, 12, 18 and 24 are checkpoints (24 written by Close).
// Line n holds seq n.
const tamperRecords = 20

// rechain recomputes prev and hash from line index from on, as someone
// without the signing key can.
func rechain(t *testing.T, lines [][]byte, from int) {
	t.Helper()
	var prev string
	if from > 0 {
		var p Event
		if err := json.Unmarshal(lines[from-1], &p); err != nil {
			t.Fatal(err)
		}
		prev = p.Hash
	}
	for i := from; i < len(lines); i++ {
		var e Event
		if err := json.Unmarshal(lines[i], &e); err != nil {
			t.Fatal(err)
		}
		e.Prev = prev
		var buf bytes.Buffer
		if err := encodeRecord(&buf, &e); err != nil {
			t.Fatal(err)
		}
		raw, _ := hex.DecodeString(prev)
		sum := sealLine(&buf, raw)
		prev = hex.EncodeToString(sum[:])
		lines[i] = bytes.Clone(buf.Bytes())
	}
}

func TestVerifyTampering(t *testing.T) {
	keys := keysFor(goldenKey())
	setSig := func(line []byte, sig string) []byte {
		var e Event
		json.Unmarshal(line, &e)
		old := e.Checkpoint.Signature
		return bytes.Replace(line, []byte(old), []byte(sig), 1)
	}
	otherSig := func(lines [][]byte) string {
		// A valid signature, of another checkpoint.
		var e Event
		json.Unmarshal(lines[5], &e)
		return e.Checkpoint.Signature
	}
	tests := []struct {
		name   string
		tamper func(t *testing.T, lines [][]byte) [][]byte
		kind   ProblemKind
		line   int
		seq    uint64
		exit   int
	}{
		{
			name: "change one byte",
			tamper: func(t *testing.T, l [][]byte) [][]byte {
				l[2] = bytes.Replace(l[2], []byte(`"agent":"reporting"`), []byte(`"agent":"reportinG"`), 1)
				return l
			},
			kind: Changed, line: 3, seq: 3, exit: ExitTampered,
		},
		{
			name: "change one byte of the hash",
			tamper: func(t *testing.T, l [][]byte) [][]byte {
				n := len(l[8])
				l[8][n-4] ^= 1
				return l
			},
			kind: Changed, line: 9, seq: 9, exit: ExitTampered,
		},
		{
			name: "change a record and rehash the chain",
			tamper: func(t *testing.T, l [][]byte) [][]byte {
				l[13] = bytes.Replace(l[13], []byte(`"rows":`), []byte(`"rows":1`), 1)
				rechain(t, l, 13)
				return l
			},
			kind: BadSignature, line: 18, seq: 18, exit: ExitTampered,
		},
		{
			name:   "delete a line",
			tamper: func(t *testing.T, l [][]byte) [][]byte { return append(l[:3], l[4:]...) },
			kind:   Removed, line: 4, seq: 4, exit: ExitTampered,
		},
		{
			name:   "delete the first line",
			tamper: func(t *testing.T, l [][]byte) [][]byte { return l[1:] },
			kind:   Removed, line: 1, seq: 2, exit: ExitTampered,
		},
		{
			name:   "delete two lines",
			tamper: func(t *testing.T, l [][]byte) [][]byte { return append(l[:6], l[8:]...) },
			kind:   Removed, line: 7, seq: 7, exit: ExitTampered,
		},
		{
			name: "swap two lines",
			tamper: func(t *testing.T, l [][]byte) [][]byte {
				l[2], l[3] = l[3], l[2]
				return l
			},
			kind: Reordered, line: 3, seq: 3, exit: ExitTampered,
		},
		{
			name: "move a line further down",
			tamper: func(t *testing.T, l [][]byte) [][]byte {
				moved := l[2]
				l = append(l[:2], l[3:]...)
				return append(l[:9], append([][]byte{moved}, l[9:]...)...)
			},
			kind: Reordered, line: 3, seq: 3, exit: ExitTampered,
		},
		{
			name: "insert a forged line",
			tamper: func(t *testing.T, l [][]byte) [][]byte {
				forged := bytes.Replace(bytes.Clone(l[3]), []byte(`"rows":`), []byte(`"rows":9`), 1)
				return append(l[:4], append([][]byte{forged}, l[4:]...)...)
			},
			kind: Inserted, line: 5, exit: ExitTampered,
		},
		{
			name: "insert a forged line chained to the one before",
			tamper: func(t *testing.T, l [][]byte) [][]byte {
				var e Event
				json.Unmarshal(l[3], &e)
				e.Seq, e.Agent, e.Prev = 5, "intruder", e.Hash
				var buf bytes.Buffer
				encodeRecord(&buf, &e)
				raw, _ := hex.DecodeString(e.Prev)
				sealLine(&buf, raw)
				return append(l[:4], append([][]byte{buf.Bytes()}, l[4:]...)...)
			},
			kind: Inserted, line: 5, seq: 5, exit: ExitTampered,
		},
		{
			name: "insert a forged first line",
			tamper: func(t *testing.T, l [][]byte) [][]byte {
				return append([][]byte{[]byte("{\"seq\":1}\n")}, l...)
			},
			kind: Inserted, line: 1, seq: 1, exit: ExitTampered,
		},
		{
			name: "insert a blank line",
			tamper: func(t *testing.T, l [][]byte) [][]byte {
				return append(l[:10], append([][]byte{[]byte("\n")}, l[10:]...)...)
			},
			kind: Inserted, line: 11, exit: ExitTampered,
		},
		{
			name: "truncate the tail mid-record",
			tamper: func(t *testing.T, l [][]byte) [][]byte {
				last := len(l) - 1
				l[last] = l[last][:len(l[last])/2]
				return l
			},
			kind: Truncated, line: 24, seq: 24, exit: ExitTampered,
		},
		{
			name: "replace a checkpoint signature",
			tamper: func(t *testing.T, l [][]byte) [][]byte {
				l[11] = setSig(l[11], otherSig(l))
				return l
			},
			kind: Changed, line: 12, seq: 12, exit: ExitTampered,
		},
		{
			name: "replace a checkpoint signature and rehash the chain",
			tamper: func(t *testing.T, l [][]byte) [][]byte {
				l[11] = setSig(l[11], otherSig(l))
				rechain(t, l, 11)
				return l
			},
			kind: BadSignature, line: 12, seq: 12, exit: ExitTampered,
		},
		{
			name: "remove a checkpoint and rehash the chain",
			tamper: func(t *testing.T, l [][]byte) [][]byte {
				l = append(l[:11], l[12:]...)
				for i := 11; i < len(l); i++ {
					var e Event
					json.Unmarshal(l[i], &e)
					l[i] = bytes.Replace(l[i], []byte(`{"seq":`+itoa(e.Seq)), []byte(`{"seq":`+itoa(e.Seq-1)), 1)
				}
				rechain(t, l, 11)
				return l
			},
			kind: BadSignature, line: 17, seq: 17, exit: ExitTampered,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := writeTrail(t, dir, tamperRecords, nil)
			lines := readLines(t, path)
			if len(lines) != 24 {
				t.Fatalf("trail has %d lines, want 24", len(lines))
			}
			writeLines(t, path, tt.tamper(t, lines))
			rep := verifyPath(t, path, keys)
			if rep.ExitCode() != tt.exit {
				t.Fatalf("exit %d, want %d; report:\n%s", rep.ExitCode(), tt.exit, rep)
			}
			p := rep.Problem
			if p.Kind != tt.kind || p.Line != tt.line || (tt.seq != 0 && p.Seq != tt.seq) || p.File != path {
				t.Errorf("problem = %+v, want %s at line %d seq %d", p, tt.kind, tt.line, tt.seq)
			}
			if !strings.Contains(rep.String(), "TAMPERED") {
				t.Errorf("report does not say TAMPERED:\n%s", rep)
			}
			t.Logf("%s", rep)
		})
	}
}

func TestVerifyUntouched(t *testing.T) {
	path := writeTrail(t, t.TempDir(), tamperRecords, nil)
	rep := verifyPath(t, path, keysFor(goldenKey()))
	if rep.ExitCode() != ExitIntact || rep.Records != 24 || rep.Checkpoints != 4 || rep.Unsealed != 0 {
		t.Fatalf("untouched trail: exit %d\n%s", rep.ExitCode(), rep)
	}
	if c := rep.LastCheckpoint; c == nil || c.Seq != 24 || c.Covers != 23 {
		t.Errorf("last checkpoint = %+v", c)
	}
}

// Cutting whole records off the end leaves a valid chain that no longer
// ends with a checkpoint: verify says which records no signature covers.
func TestVerifyCutTail(t *testing.T) {
	path := writeTrail(t, t.TempDir(), tamperRecords, nil)
	lines := readLines(t, path)
	writeLines(t, path, lines[:21])
	rep := verifyPath(t, path, keysFor(goldenKey()))
	if rep.ExitCode() != ExitUnsealed || rep.Unsealed != 3 || rep.LastSeq != 21 {
		t.Fatalf("exit %d unsealed %d\n%s", rep.ExitCode(), rep.Unsealed, rep)
	}
	if !strings.Contains(rep.String(), "seq 19 to 21") {
		t.Errorf("report does not name the unsealed records:\n%s", rep)
	}
}

func TestVerifyUnknownKey(t *testing.T) {
	path := writeTrail(t, t.TempDir(), tamperRecords, nil)
	rep := verifyPath(t, path, KeySet{})
	if p := rep.Problem; p == nil || p.Kind != BadSignature || p.Line != 6 {
		t.Fatalf("verify without the key:\n%s", rep)
	}
	// A key the attacker controls, put in place of keyhole's, fails too.
	other := keysFor(goldenKeyOther())
	rep = verifyPath(t, path, other)
	if p := rep.Problem; p == nil || p.Kind != BadSignature {
		t.Fatalf("verify with another key:\n%s", rep)
	}
}

func TestVerifyEmpty(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	os.WriteFile(path, nil, 0o600)
	rep := verifyPath(t, path, nil)
	if rep.ExitCode() != ExitIntact || rep.Records != 0 {
		t.Fatalf("empty trail:\n%s", rep)
	}
}

func TestVerifyContext(t *testing.T) {
	path := writeTrail(t, t.TempDir(), 3, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Verify(ctx, []string{path}, nil); err == nil {
		t.Fatal("Verify ignored a cancelled context")
	}
}

func itoa(n uint64) string { return strings.TrimSpace(string(must(json.Marshal(n)))) }

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// quickParse reads what a full decode reads, on every kind of line.
func TestQuickParse(t *testing.T) {
	path := writeTrail(t, t.TempDir(), 12, nil)
	lines := readLines(t, path)
	lines = append(lines, []byte(goldenLine))
	for i, line := range lines {
		line = bytes.TrimSuffix(line, []byte("\n"))
		var quick, full vrec
		if !quickParse(line, &quick) {
			t.Fatalf("line %d: quickParse refused %s", i+1, line)
		}
		if err := json.Unmarshal(line, &full); err != nil {
			t.Fatal(err)
		}
		if quick.Seq != full.Seq || quick.Event != full.Event || quick.Prev != full.Prev || quick.Hash != full.Hash {
			t.Errorf("line %d: quick %+v, full %+v", i+1, quick, full)
		}
	}
	for _, odd := range []string{
		``, `{}`, `{"seq":1}`, `{"seq":,"time":"x","event":"e","prev":"","hash":""}`,
		`{"seq":1,"time":"x","event":"a\"b","prev":"","hash":"` + strings.Repeat("0", 64) + `"}`,
		`{"seq":1,"time":"x","event":"e","prev":"abc","hash":"` + strings.Repeat("0", 64) + `"}`,
		`{"time":"x","seq":1,"event":"e","prev":"","hash":"` + strings.Repeat("0", 64) + `"}`,
	} {
		var r vrec
		if quickParse([]byte(odd), &r) {
			t.Errorf("quickParse accepted %s as %+v", odd, r)
		}
	}
}
