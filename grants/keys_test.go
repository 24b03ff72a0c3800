package grants

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

func fileMode(t testing.TB, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func jwksKeys(t testing.TB, b []byte) []map[string]string {
	t.Helper()
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		t.Fatalf("jwks %s: %v", b, err)
	}
	return set.Keys
}

func TestLoadOrCreateKeysFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "keyhole")
	k, err := LoadOrCreateKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := fileMode(t, dir); got != 0o700 {
		t.Errorf("data dir mode %04o, want 0700", got)
	}
	if got := fileMode(t, filepath.Join(dir, signingKeyFile)); got != 0o600 {
		t.Errorf("signing.key mode %04o, want 0600", got)
	}
	if got := fileMode(t, filepath.Join(dir, jwksFile)); got != 0o644 {
		t.Errorf("jwks.json mode %04o, want 0644", got)
	}

	b, err := os.ReadFile(filepath.Join(dir, signingKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PRIVATE KEY" {
		t.Fatalf("signing.key is not a PKCS#8 PEM block:\n%s", b)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !k.PrivateKey().Equal(key) {
		t.Error("signing.key holds another key than the ring")
	}

	onDisk, err := os.ReadFile(filepath.Join(dir, jwksFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(onDisk, k.JWKS()) {
		t.Errorf("jwks.json differs from JWKS():\n%s\n%s", onDisk, k.JWKS())
	}
	want := map[string]string{
		"kty": "OKP", "crv": "Ed25519",
		"x":   base64.RawURLEncoding.EncodeToString(k.PrivateKey().Public().(ed25519.PublicKey)),
		"kid": k.KeyID(), "use": "sig", "alg": "EdDSA",
	}
	if keys := jwksKeys(t, onDisk); len(keys) != 1 || fmt.Sprint(keys[0]) != fmt.Sprint(want) {
		t.Errorf("jwks keys = %v, want [%v]", keys, want)
	}

	again, err := LoadOrCreateKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	if again.KeyID() != k.KeyID() || !again.PrivateKey().Equal(k.PrivateKey()) {
		t.Errorf("reloaded ring has kid %s, want %s", again.KeyID(), k.KeyID())
	}
}

// TestKeyIDIsThumbprint checks the kid against RFC 8037 appendix A.3.
func TestKeyIDIsThumbprint(t *testing.T) {
	d, err := base64.RawURLEncoding.DecodeString("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
	if err != nil {
		t.Fatal(err)
	}
	k := newKeyRing(ed25519.NewKeyFromSeed(d))
	if got, want := k.KeyID(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"; got != want {
		t.Errorf("KeyID() = %s, want %s", got, want)
	}
}

func TestLoadOrCreateKeysRefuses(t *testing.T) {
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKCS8PrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	writeKey := func(data []byte) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, signingKeyFile), data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	chmod := func(name string, mode fs.FileMode) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			if err := os.Chmod(filepath.Join(dir, name), mode); err != nil {
				t.Fatal(err)
			}
		}
	}
	editJWKS := func(f func(keys []map[string]string)) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			b, err := os.ReadFile(filepath.Join(dir, jwksFile))
			if err != nil {
				t.Fatal(err)
			}
			keys := jwksKeys(t, b)
			f(keys)
			b, err = json.Marshal(map[string]any{"keys": keys})
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, jwksFile), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		name   string
		break_ func(t *testing.T, dir string)
		want   string // in the error: what to do about it
	}{
		{name: "world-readable key", break_: chmod(signingKeyFile, 0o644), want: "chmod 600"},
		{name: "world-readable only key", break_: chmod(signingKeyFile, 0o604), want: "chmod 600"},
		{name: "group-readable key", break_: chmod(signingKeyFile, 0o640), want: "chmod 600"},
		{name: "group-writable key", break_: chmod(signingKeyFile, 0o620), want: "chmod 600"},
		{name: "group-writable data dir", break_: chmod(".", 0o770), want: "chmod 700"},
		{name: "world-writable data dir", break_: chmod(".", 0o707), want: "chmod 700"},
		{name: "world-writable jwks", break_: chmod(jwksFile, 0o666), want: "chmod 644"},
		{name: "jwks kid not its thumbprint", break_: editJWKS(func(keys []map[string]string) { keys[0]["kid"] = "mine" }), want: "thumbprint"},
		{name: "jwks key not Ed25519", break_: editJWKS(func(keys []map[string]string) { keys[0]["crv"] = "X25519" }), want: "Ed25519"},
		{name: "jwks key for encryption", break_: editJWKS(func(keys []map[string]string) { keys[0]["use"] = "enc" }), want: "signing key"},
		{name: "jwks key short", break_: editJWKS(func(keys []map[string]string) { keys[0]["x"] = "AAAA" }), want: "Ed25519"},
		{name: "jwks not JSON", break_: func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, jwksFile), []byte("keys"), 0o644)
		}, want: jwksFile},
		{name: "key not PEM", break_: writeKey([]byte("not a key")), want: "PKCS#8"},
		{name: "key not PKCS#8", break_: writeKey(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("junk")})), want: "PKCS#8"},
		{name: "key not Ed25519", break_: writeKey(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER})), want: "Ed25519"},
		{name: "key followed by another block", break_: func(t *testing.T, dir string) {
			b, _ := os.ReadFile(filepath.Join(dir, signingKeyFile))
			writeKey(append(b, b...))(t, dir)
		}, want: "one PKCS#8"},
		{name: "key is a symlink", break_: func(t *testing.T, dir string) {
			path := filepath.Join(dir, signingKeyFile)
			os.Rename(path, path+".real")
			if err := os.Symlink(path+".real", path); err != nil {
				t.Fatal(err)
			}
		}, want: "regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := LoadOrCreateKeys(dir); err != nil {
				t.Fatal(err)
			}
			tt.break_(t, dir)
			k, err := LoadOrCreateKeys(dir)
			if err == nil {
				t.Fatalf("LoadOrCreateKeys accepted it: %v", k)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			t.Logf("refused: %v", err)
		})
	}
}

func TestRotatePersists(t *testing.T) {
	dir := t.TempDir()
	k, err := LoadOrCreateKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	oldKID := k.KeyID()
	old := mustSignGrant(t, k, sampleClaims())
	if err := k.Rotate(); err != nil {
		t.Fatal(err)
	}
	if got := fileMode(t, filepath.Join(dir, signingKeyFile)); got != 0o600 {
		t.Errorf("signing.key mode after rotation %04o, want 0600", got)
	}
	reloaded, err := LoadOrCreateKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	if reloaded.KeyID() != k.KeyID() || !reloaded.PrivateKey().Equal(k.PrivateKey()) {
		t.Errorf("reloaded kid %s, want the rotated %s", reloaded.KeyID(), k.KeyID())
	}
	var kids []string
	for _, key := range jwksKeys(t, reloaded.JWKS()) {
		kids = append(kids, key["kid"])
	}
	if want := []string{oldKID, k.KeyID()}; !slices.Equal(kids, want) {
		t.Errorf("jwks kids %v, want %v", kids, want)
	}
	if _, err := reloaded.VerifyGrant(old, sampleOptions()); err != nil {
		t.Errorf("grant signed before rotation, verified by a fresh ring: %v", err)
	}
}

// TestRotateSeenByOtherProcess: a ring that loaded before another process
// rotated still verifies grants signed with the new key.
func TestRotateSeenByOtherProcess(t *testing.T) {
	dir := t.TempDir()
	a, err := LoadOrCreateKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadOrCreateKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := a.Rotate(); err != nil {
			t.Fatal(err)
		}
		if _, err := b.VerifyGrant(mustSignGrant(t, a, sampleClaims()), sampleOptions()); err != nil {
			t.Errorf("grant signed after another ring's rotation %d: %v", i+1, err)
		}
		if _, ok := b.PublicKey("no-such-kid"); ok {
			t.Error("PublicKey found an unknown kid")
		}
	}
}

func TestPrivateKeyIsACopy(t *testing.T) {
	k := newKeyRing(fixedKey("keyhole"))
	p := k.PrivateKey()
	clear(p)
	if !k.PrivateKey().Equal(fixedKey("keyhole")) {
		t.Error("changing PrivateKey()'s result changed the ring")
	}
	if _, err := k.VerifyGrant(mustSignGrant(t, k, sampleClaims()), sampleOptions()); err != nil {
		t.Error(err)
	}
}

func TestConcurrentLoadOrCreateKeys(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "shared")
	const n = 16
	kids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			k, err := LoadOrCreateKeys(dir)
			if err == nil {
				kids[i] = k.KeyID()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("goroutine %d: %v", i, err)
		}
	}
	if kids[0] == "" || slices.ContainsFunc(kids, func(s string) bool { return s != kids[0] }) {
		t.Errorf("kids %v: want one key", kids)
	}
	checkOneKeyOnDisk(t, dir, kids[0])
}

func checkOneKeyOnDisk(t *testing.T, dir, kid string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, jwksFile))
	if err != nil {
		t.Fatal(err)
	}
	if keys := jwksKeys(t, b); len(keys) != 1 || keys[0]["kid"] != kid {
		t.Errorf("jwks.json keys %v, want only %s", keys, kid)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

// TestConcurrentRotate: rotations racing in several rings over one data
// directory lose no public key.
func TestConcurrentRotate(t *testing.T) {
	dir := t.TempDir()
	const n = 8
	rings := make([]*KeyRing, n)
	for i := range rings {
		k, err := LoadOrCreateKeys(dir)
		if err != nil {
			t.Fatal(err)
		}
		rings[i] = k
	}
	var wg sync.WaitGroup
	for _, k := range rings {
		wg.Go(func() {
			if err := k.Rotate(); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	final, err := LoadOrCreateKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(jwksKeys(t, final.JWKS())); got != n+1 {
		t.Errorf("jwks has %d keys after %d rotations of one key, want %d", got, n, n+1)
	}
	for i, k := range rings {
		if _, err := final.VerifyGrant(mustSignGrant(t, k, sampleClaims()), sampleOptions()); err != nil {
			t.Errorf("ring %d: %v", i, err)
		}
	}
}

// TestConcurrentLoadOrCreateKeysProcesses starts several copies of the test
// binary that create keys in one fresh directory at the same time.
func TestConcurrentLoadOrCreateKeysProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	dir := filepath.Join(t.TempDir(), "shared")
	const n = 4
	cmds := make([]*exec.Cmd, n)
	outs := make([]bytes.Buffer, n)
	for i := range cmds {
		cmds[i] = exec.Command(os.Args[0], "-test.run=^TestKeysHelperProcess$", "-test.count=1")
		cmds[i].Env = append(os.Environ(), "KEYHOLE_KEYS_HELPER_DIR="+dir)
		cmds[i].Stdout = &outs[i]
		cmds[i].Stderr = &outs[i]
	}
	for _, c := range cmds {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
	}
	kids := make([]string, n)
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("process %d: %v\n%s", i, err, outs[i].String())
		}
		sc := bufio.NewScanner(&outs[i])
		for sc.Scan() {
			if kid, ok := strings.CutPrefix(sc.Text(), "kid="); ok {
				kids[i] = kid
			}
		}
	}
	if kids[0] == "" || slices.ContainsFunc(kids, func(s string) bool { return s != kids[0] }) {
		t.Errorf("kids %v: want one key", kids)
	}
	checkOneKeyOnDisk(t, dir, kids[0])
}

// TestKeysHelperProcess is the child of TestConcurrentLoadOrCreateKeysProcesses.
func TestKeysHelperProcess(t *testing.T) {
	dir := os.Getenv("KEYHOLE_KEYS_HELPER_DIR")
	if dir == "" {
		t.Skip("helper process only")
	}
	k, err := LoadOrCreateKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("kid=%s\n", k.KeyID())
}

// TestKeyRingNeverShowsPrivateKey formats, logs and encodes a ring every way
// a careless caller might, and looks for the private key in any encoding.
func TestKeyRingNeverShowsPrivateKey(t *testing.T) {
	k, err := LoadOrCreateKeys(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	priv := k.PrivateKey()
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string]string{}
	for name, b := range map[string][]byte{"seed": priv.Seed(), "private key": priv, "pkcs8": der} {
		secrets[name+" base64"] = base64.StdEncoding.EncodeToString(b)
		secrets[name+" base64url"] = base64.RawURLEncoding.EncodeToString(b)
		secrets[name+" hex"] = hex.EncodeToString(b)
		secrets[name+" raw"] = string(b)
		secrets[name+" bytes"] = fmt.Sprint([]byte(b))
	}

	var outputs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		outputs = append(outputs, fmt.Sprintf(verb, k))
	}
	outputs = append(outputs, k.String(), k.GoString(), fmt.Sprintf("%+v", k.signer), fmt.Sprintf("%#v", k.signer))
	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewJSONHandler(&buf, nil), slog.NewTextHandler(&buf, nil)} {
		l := slog.New(h)
		l.Info("keys", "ring", k)
		l.Info("keys", "signer", k.signer)
		l.LogAttrs(context.Background(), slog.LevelInfo, "keys", slog.Any("ring", k))
	}
	outputs = append(outputs, buf.String())
	for _, v := range []any{k, struct{ Keys *KeyRing }{k}, k.signer} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		outputs = append(outputs, string(b))
	}

	for _, out := range outputs {
		for name, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s appears in %q", name, out)
			}
		}
	}
	if got := k.String(); !strings.Contains(got, k.KeyID()) {
		t.Errorf("String() = %q, want it to name the kid", got)
	}
	if !strings.Contains(buf.String(), `"kid":"`+k.KeyID()+`"`) {
		t.Errorf("log lacks the kid: %s", buf.String())
	}
}
