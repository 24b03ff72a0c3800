package audit

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
)

// KeySet holds the public keys that may have signed checkpoints, by kid. It
// comes from keyhole's jwks.json, never from the trail: a key written next to
// the records it vouches for would vouch for nothing.
type KeySet map[string]ed25519.PublicKey

// Thumbprint returns the RFC 7638 JWK thumbprint of an Ed25519 public key
// (SHA-256, base64url without padding): the kid keyhole gives its keys.
func Thumbprint(pub ed25519.PublicKey) string {
	// RFC 7638 §3: the required members in lexicographic order, no
	// whitespace. For OKP keys (RFC 8037 §2) those are crv, kty and x.
	x := base64.RawURLEncoding.EncodeToString(pub)
	sum := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + x + `"}`))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// ParseJWKS reads a JSON Web Key Set and returns its Ed25519 keys. Each key
// is indexed by its computed thumbprint and, when it differs, by the kid it
// declares. Keys of other types are skipped; a malformed Ed25519 key is an
// error.
func ParseJWKS(data []byte) (KeySet, error) {
	var set struct {
		Keys []struct {
			Kty string `json:"kty"`
			Crv string `json:"crv"`
			X   string `json:"x"`
			Kid string `json:"kid"`
			Use string `json:"use"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("audit: jwks: %w", err)
	}
	keys := KeySet{}
	for i, k := range set.Keys {
		if k.Kty != "OKP" || k.Crv != "Ed25519" || (k.Use != "" && k.Use != "sig") {
			continue
		}
		x, err := base64.RawURLEncoding.DecodeString(k.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("audit: jwks: key %d: x is not a base64url Ed25519 public key", i)
		}
		pub := ed25519.PublicKey(x)
		keys[Thumbprint(pub)] = pub
		if k.Kid != "" {
			keys[k.Kid] = pub
		}
	}
	return keys, nil
}

// LoadJWKS reads and parses a JWKS file.
func LoadJWKS(path string) (KeySet, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("audit: jwks: %w", err)
	}
	return ParseJWKS(data)
}
