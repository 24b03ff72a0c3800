package grants

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"

	"github.com/go-jose/go-jose/v4"
)

// Files of the key ring inside the data directory.
const (
	signingKeyFile = "signing.key"
	jwksFile       = "jwks.json"
	keysLockFile   = "keys.lock"
)

// KeyRing holds keyhole's Ed25519 signing key and every public key it has
// ever used, so that a grant or an audit checkpoint signed before a rotation
// still verifies after it.
//
// On disk, in the data directory (created 0700):
//
//   - signing.key: the current private key, PKCS#8 PEM, mode 0600. A key
//     readable by group or others is refused, never silently repaired.
//   - jwks.json: the JWKS of every public key ever used (mode 0644), with
//     each key's RFC 7638 thumbprint as its kid. Anyone may copy it to verify
//     grants and checkpoints offline. It decides which signatures keyhole
//     trusts, so a jwks.json (or a data directory) that group or others may
//     write is refused too.
//   - keys.lock: an empty file whose advisory lock serializes creation and
//     rotation.
//
// Several keyhole processes may share one data directory (several stdio
// clients and the admin CLI): creation and rotation hold the lock, and files
// are replaced only by atomic link/rename, so two processes never end up
// with different keys, no rotation loses another's public key, and a reader
// never sees a half-written file. A ring that meets a kid it does not know
// rereads jwks.json, so grants signed after another process rotated verify
// everywhere; each process keeps signing with the key it loaded (or rotated
// to) until it restarts.
//
// The private key never leaves the ring in logs or output: String, LogValue,
// GoString and MarshalJSON show only the kid. A KeyRing is safe for
// concurrent use.
type KeyRing struct {
	dir string

	mu     sync.RWMutex
	signer privateKey                   // current signing key
	kid    string                       // kid of signer
	pubs   map[string]ed25519.PublicKey // every key ever used, by kid
	order  []string                     // kids in the order they were added
	jwks   []byte                       // cached jwks.json rendering of pubs
	seen   fs.FileInfo                  // jwks.json as last reloaded
}

// privateKey wraps the signing key so that no formatting or encoding path
// can print it, even if a KeyRing is ever dumped field by field.
type privateKey struct{ k ed25519.PrivateKey }

func (privateKey) String() string               { return "[REDACTED]" }
func (privateKey) GoString() string             { return "[REDACTED]" }
func (privateKey) LogValue() slog.Value         { return slog.StringValue("[REDACTED]") }
func (privateKey) MarshalJSON() ([]byte, error) { return []byte(`"[REDACTED]"`), nil }

// LoadOrCreateKeys opens the key ring in dataDir, creating the directory and
// a first key pair if there are none. It refuses a signing key that group or
// others may read, and a data directory that group or others may write.
func LoadOrCreateKeys(dataDir string) (*KeyRing, error) {
	if dataDir == "" {
		return nil, errors.New("grants: keys: data directory not set")
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("grants: keys: %w", err)
	}
	if err := checkDir(dataDir); err != nil {
		return nil, err
	}
	k := &KeyRing{dir: dataDir}
	err := withKeysLock(dataDir, func() error {
		priv, err := loadOrCreateSigningKey(dataDir)
		if err != nil {
			return err
		}
		pubs, order, err := readJWKS(dataDir)
		if err != nil {
			return err
		}
		for _, kid := range order {
			k.add(pubs[kid])
		}
		kid := k.add(priv.Public().(ed25519.PublicKey))
		k.signer, k.kid = privateKey{priv}, kid
		if len(k.order) != len(order) {
			return writeFileAtomic(dataDir, jwksFile, k.jwks, 0o644)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return k, nil
}

// newKeyRing builds an in-memory ring around priv: for tests and examples
// that need a fixed key and no files.
func newKeyRing(priv ed25519.PrivateKey) *KeyRing {
	k := &KeyRing{pubs: map[string]ed25519.PublicKey{}}
	k.kid = k.add(priv.Public().(ed25519.PublicKey))
	k.signer = privateKey{priv}
	return k
}

// KeyID returns the kid of the current signing key: the RFC 7638 JWK
// thumbprint (SHA-256, base64url) of its public key.
func (k *KeyRing) KeyID() string {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.kid
}

// PrivateKey returns a copy of the current signing key. It exists for the
// audit checkpoint signer, which signs with keyhole's key outside JWS; every
// other caller should sign through the ring.
func (k *KeyRing) PrivateKey() ed25519.PrivateKey {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return slices.Clone(k.signer.k)
}

// JWKS returns the public keys of the ring as a JSON Web Key Set, the same
// bytes as jwks.json.
func (k *KeyRing) JWKS() []byte {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return slices.Clone(k.jwks)
}

// PublicKey returns the public key with the given kid, if the ring knows it.
// A kid the ring does not know is looked up again in jwks.json, so that a
// process sees keys that another process sharing the data directory rotated
// in after it started.
func (k *KeyRing) PublicKey(kid string) (ed25519.PublicKey, bool) {
	k.mu.RLock()
	pub, ok := k.pubs[kid]
	k.mu.RUnlock()
	if ok || k.dir == "" || kid == "" {
		return pub, ok
	}
	if err := k.reload(); err != nil {
		return nil, false
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	pub, ok = k.pubs[kid]
	return pub, ok
}

// Rotate makes a fresh key pair the signing key. The old public key stays in
// jwks.json, so grants and checkpoints signed with it keep verifying.
// Another process sharing the data directory keeps signing with the key it
// loaded until it restarts; its grants keep verifying everywhere.
func (k *KeyRing) Rotate() error {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("grants: rotate key: %w", err)
	}
	if k.dir == "" {
		k.mu.Lock()
		defer k.mu.Unlock()
		k.kid = k.add(priv.Public().(ed25519.PublicKey))
		k.signer = privateKey{priv}
		return nil
	}
	return withKeysLock(k.dir, func() error {
		pubs, order, err := readJWKS(k.dir)
		if err != nil {
			return err
		}
		k.mu.Lock()
		defer k.mu.Unlock()
		for _, kid := range order {
			k.add(pubs[kid])
		}
		kid := k.add(priv.Public().(ed25519.PublicKey))
		// The public key is published before the private key becomes the
		// signing key: there is never a signing.key whose grants cannot
		// be verified from jwks.json.
		if err := writeFileAtomic(k.dir, jwksFile, k.jwks, 0o644); err != nil {
			return err
		}
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			return fmt.Errorf("grants: rotate key: %w", err)
		}
		pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		if err := writeFileAtomic(k.dir, signingKeyFile, pemBytes, 0o600); err != nil {
			return err
		}
		k.kid, k.signer = kid, privateKey{priv}
		return nil
	})
}

// String shows only the kid of the signing key.
func (k *KeyRing) String() string { return "grants.KeyRing{kid: " + k.KeyID() + "}" }

// GoString shows only the kid of the signing key, so %#v is as safe as %v.
func (k *KeyRing) GoString() string { return k.String() }

// LogValue logs only the kid of the signing key.
func (k *KeyRing) LogValue() slog.Value { return slog.GroupValue(slog.String("kid", k.KeyID())) }

// MarshalJSON encodes only the kid of the signing key.
func (k *KeyRing) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		KID string `json:"kid"`
	}{k.KeyID()})
}

// add records pub in the ring if it is new and returns its kid. The caller
// holds k.mu or owns k exclusively.
func (k *KeyRing) add(pub ed25519.PublicKey) string {
	kid := thumbprint(pub)
	if k.pubs == nil {
		k.pubs = map[string]ed25519.PublicKey{}
	}
	if _, ok := k.pubs[kid]; ok {
		return kid
	}
	k.pubs[kid] = pub
	k.order = append(k.order, kid)
	k.jwks = renderJWKS(k.pubs, k.order)
	return kid
}

// reload merges the public keys of jwks.json into the ring. The file is
// only ever replaced by rename, so while it is the same file as at the last
// reload there is nothing new to read: tokens with made-up kids cost a stat,
// not a parse.
func (k *KeyRing) reload() error {
	fi, err := os.Lstat(filepath.Join(k.dir, jwksFile))
	if err != nil {
		return fmt.Errorf("grants: keys: %w", err)
	}
	k.mu.RLock()
	seen := k.seen
	k.mu.RUnlock()
	if seen != nil && os.SameFile(seen, fi) && seen.ModTime().Equal(fi.ModTime()) && seen.Size() == fi.Size() {
		return nil
	}
	pubs, order, err := readJWKS(k.dir)
	if err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, kid := range order {
		k.add(pubs[kid])
	}
	k.seen = fi
	return nil
}

// thumbprint is the RFC 7638 JWK thumbprint of pub: SHA-256, base64url.
func thumbprint(pub ed25519.PublicKey) string {
	jwk := jose.JSONWebKey{Key: pub}
	sum, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		// Only unsupported key types fail, and pub is always Ed25519.
		panic("grants: thumbprint: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(sum)
}

// jwk is one public key of jwks.json, field order pinned.
type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
}

func renderJWKS(pubs map[string]ed25519.PublicKey, order []string) []byte {
	set := struct {
		Keys []jwk `json:"keys"`
	}{Keys: make([]jwk, 0, len(order))}
	for _, kid := range order {
		set.Keys = append(set.Keys, jwk{
			Kty: "OKP", Crv: "Ed25519",
			X:   base64.RawURLEncoding.EncodeToString(pubs[kid]),
			Kid: kid, Use: "sig", Alg: "EdDSA",
		})
	}
	b, err := json.MarshalIndent(set, "", "  ")
	if err != nil {
		panic("grants: jwks: " + err.Error()) // plain strings only
	}
	return append(b, '\n')
}

// readJWKS reads jwks.json; a missing file is an empty set. Every key must
// be an Ed25519 signing key whose kid is its thumbprint: the file decides
// which signatures keyhole trusts, so it is checked as strictly as the
// private key.
func readJWKS(dir string) (map[string]ed25519.PublicKey, []string, error) {
	path := filepath.Join(dir, jwksFile)
	pubs := map[string]ed25519.PublicKey{}
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return pubs, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("grants: keys: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("grants: keys: %s is not a regular file", path)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return nil, nil, fmt.Errorf("grants: keys: %s is writable by group or others (mode %04o), so anyone could add a key keyhole trusts; fix with: chmod 644 %s", path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("grants: keys: %w", err)
	}
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, nil, fmt.Errorf("grants: keys: %s: %w", path, err)
	}
	var order []string
	for i, key := range set.Keys {
		x, err := base64.RawURLEncoding.DecodeString(key.X)
		if key.Kty != "OKP" || key.Crv != "Ed25519" || err != nil || len(x) != ed25519.PublicKeySize {
			return nil, nil, fmt.Errorf("grants: keys: %s: key %d is not an Ed25519 public key", path, i)
		}
		if key.Alg != "" && key.Alg != "EdDSA" || key.Use != "" && key.Use != "sig" {
			return nil, nil, fmt.Errorf("grants: keys: %s: key %d is not an EdDSA signing key", path, i)
		}
		pub := ed25519.PublicKey(x)
		kid := thumbprint(pub)
		if key.Kid != kid {
			return nil, nil, fmt.Errorf("grants: keys: %s: key %d: kid %q is not its thumbprint", path, i, key.Kid)
		}
		if _, dup := pubs[kid]; !dup {
			pubs[kid] = pub
			order = append(order, kid)
		}
	}
	return pubs, order, nil
}

// loadOrCreateSigningKey reads signing.key, creating it if there is none.
// The new key is written to a temporary file and linked into place: link
// fails if the name exists, so a concurrent creator's key is never
// overwritten, and the winner's key is what everyone reads.
func loadOrCreateSigningKey(dir string) (ed25519.PrivateKey, error) {
	path := filepath.Join(dir, signingKeyFile)
	priv, err := readSigningKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return priv, err
	}
	_, priv, err = ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("grants: keys: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("grants: keys: %w", err)
	}
	tmp, err := writeTemp(dir, signingKeyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("grants: keys: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return nil, err
	}
	return readSigningKey(path)
}

// readSigningKey reads and checks a PKCS#8 PEM Ed25519 private key. The
// returned error wraps fs.ErrNotExist when there is no key yet.
func readSigningKey(path string) (ed25519.PrivateKey, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, fmt.Errorf("grants: keys: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("grants: keys: %s is not a regular file", path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("grants: keys: signing key %s is accessible by group or others (mode %04o); fix with: chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("grants: keys: %w", err)
	}
	block, rest := pem.Decode(b)
	if block == nil || block.Type != "PRIVATE KEY" || len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("grants: keys: %s: want one PKCS#8 PEM block (PRIVATE KEY)", path)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("grants: keys: %s: not a PKCS#8 private key", path)
	}
	priv, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("grants: keys: %s: want an Ed25519 key, have %T", path, key)
	}
	return priv, nil
}

// checkDir refuses a data directory that group or others may write: whoever
// can write it can replace the keys.
func checkDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("grants: keys: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("grants: keys: %s is not a directory", dir)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("grants: keys: data directory %s is writable by group or others (mode %04o), so anyone could replace keyhole's keys; fix with: chmod 700 %s", dir, fi.Mode().Perm(), dir)
	}
	return nil
}

// withKeysLock runs fn holding an exclusive advisory lock on keys.lock, which
// serializes key creation and rotation between processes (and goroutines:
// each call opens its own file description).
func withKeysLock(dir string, fn func() error) error {
	f, err := os.OpenFile(filepath.Join(dir, keysLockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("grants: keys: lock: %w", err)
	}
	defer f.Close()
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("grants: keys: lock: %w", err)
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return fn()
}

// writeTemp writes data to a new temporary file in dir, synced to disk, and
// returns its path.
func writeTemp(dir, name string, data []byte, perm os.FileMode) (string, error) {
	f, err := os.CreateTemp(dir, "."+name+".tmp*")
	if err != nil {
		return "", fmt.Errorf("grants: keys: %w", err)
	}
	tmp := f.Name()
	err = f.Chmod(perm)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("grants: keys: %w", err)
	}
	return tmp, nil
}

// writeFileAtomic replaces dir/name with data: readers see the old file or
// the new one, never a mix.
func writeFileAtomic(dir, name string, data []byte, perm os.FileMode) error {
	tmp, err := writeTemp(dir, name, data, perm)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("grants: keys: %w", err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("grants: keys: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("grants: keys: sync %s: %w", dir, err)
	}
	return nil
}
