package pgroles

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"fmt"
	"regexp"
	"strings"
)

// nameChars is the length of the random part of a role name: 20 base32
// characters, 100 bits.
const nameChars = 20

var lowerBase32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// RoleName is the name of the role of the grant whose signed token is token:
// prefix followed by 20 lower-case base32 characters of SHA-256 over the
// token. Every keyhole process sharing the grant store derives the same name
// from the stored grant, so any of them (or the admin CLI) can end a role
// another one created, and start-up reaping knows which roles a live grant
// owns without a column of its own. The token carries keyhole's Ed25519
// signature and never leaves keyhole, so the name is as unpredictable as a
// random one; no part of it comes from an agent's input.
func RoleName(prefix, token string) string {
	sum := sha256.Sum256([]byte("keyhole pgroles role name v1\x00" + token))
	return prefix + lowerBase32.EncodeToString(sum[:])[:nameChars]
}

// namePattern is the PostgreSQL regular expression that matches the role
// names RoleName makes for prefix, and nothing an admin would name a role.
func namePattern(prefix string) string {
	return "^" + prefix + "[a-z2-7]{" + fmt.Sprint(nameChars) + "}$"
}

var prefixRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,15}$`)

// newPassword returns 32 random bytes, base64url without padding: 43
// characters of [A-Za-z0-9_-]. It lives only in the memory of the process
// that created the role.
func newPassword() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("pgroles: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// scramIterations is PostgreSQL's default scram_iterations.
const scramIterations = 4096

// scramVerifier computes the SCRAM-SHA-256 verifier PostgreSQL stores for
// password (RFC 5802, RFC 7677), in pg_authid's format:
//
//	SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>
//
// Handing PostgreSQL the verifier instead of the password keeps the password
// out of its logs (log_statement = ddl logs CREATE ROLE in full). The
// password must need no SASLprep normalisation, which a base64url string
// never does.
func scramVerifier(password string, salt []byte, iterations int) (string, error) {
	salted, err := pbkdf2.Key(sha256.New, password, salt, iterations, sha256.Size)
	if err != nil {
		return "", fmt.Errorf("pgroles: scram: %w", err)
	}
	clientKey := hmacSHA256(salted, "Client Key")
	storedKey := sha256.Sum256(clientKey)
	serverKey := hmacSHA256(salted, "Server Key")
	enc := base64.StdEncoding
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", iterations,
		enc.EncodeToString(salt), enc.EncodeToString(storedKey[:]), enc.EncodeToString(serverKey)), nil
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// newVerifier returns a fresh password and its verifier with a random salt.
func newVerifier() (password, verifier string, err error) {
	var salt [16]byte
	if _, err := rand.Read(salt[:]); err != nil {
		return "", "", fmt.Errorf("pgroles: salt: %w", err)
	}
	password = newPassword()
	verifier, err = scramVerifier(password, salt[:], scramIterations)
	return password, verifier, err
}

// literal quotes s as a SQL string literal for a statement that cannot take
// parameters (CREATE ROLE ... PASSWORD, VALID UNTIL). It accepts only the
// characters of a SCRAM verifier or a timestamp, so no quote, backslash or
// NUL can ever reach the SQL.
func literal(s string) (string, error) {
	for _, c := range s {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("+/=$:-_. ", c)
		if !ok {
			return "", fmt.Errorf("pgroles: refusing to quote a literal with %q", c)
		}
	}
	return "'" + s + "'", nil
}
