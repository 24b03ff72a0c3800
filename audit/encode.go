package audit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// hashSize is the size of a chain hash in bytes; on the trail it is written
// as 64 lowercase hex digits.
const hashSize = sha256.Size

// hashSuffixLen is the length of the end of every record line that carries
// the hash: `,"hash":"` + 64 hex digits + `"}`. Prev and Hash are the last
// fields of Event, so the hash is always at the same place from the end.
const hashSuffixLen = len(`,"hash":"`) + 2*hashSize + len(`"}`)

// checkpointDomain separates checkpoint signatures from every other use of
// keyhole's key (grants are JWS, which never start with these bytes).
const checkpointDomain = "keyhole.audit.checkpoint.v1\n"

// encodeRecord appends to buf the canonical bytes of e with Hash empty,
// without a trailing newline: the JSON encoding of Event by encoding/json, in
// struct field order, without HTML escaping, Time in UTC. It returns the
// extended buffer.
func encodeRecord(buf *bytes.Buffer, e *Event) error {
	hash := e.Hash
	e.Hash = ""
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(e)
	e.Hash = hash
	if err != nil {
		return err
	}
	buf.Truncate(buf.Len() - 1) // Encode's newline
	return nil
}

// chainHash returns SHA-256(prev || canonical), prev being the raw bytes of
// the previous record's hash (nothing for the first record of a chain).
func chainHash(prev []byte, canonical []byte) [hashSize]byte {
	h := sha256.New()
	h.Write(prev)
	h.Write(canonical)
	var sum [hashSize]byte
	h.Sum(sum[:0])
	return sum
}

// sealLine turns the canonical bytes of a record (hash empty) into its line
// on the trail: the hash filled in and a newline. It returns the hash.
func sealLine(buf *bytes.Buffer, prev []byte) [hashSize]byte {
	b := buf.Bytes()
	sum := chainHash(prev, b)
	// b ends with `"hash":""}`: insert the hex digits before the last `"}`.
	buf.Truncate(len(b) - 2)
	var hx [2 * hashSize]byte
	hex.Encode(hx[:], sum[:])
	buf.Write(hx[:])
	buf.WriteString("\"}\n")
	return sum
}

// lineHash checks the shape of a record line (without its newline) and
// returns the hash it claims and the one its bytes and prev produce.
func lineHash(line []byte, prev []byte) (claimed, actual [hashSize]byte, err error) {
	n := len(line)
	if n < hashSuffixLen+1 || line[0] != '{' ||
		!bytes.Equal(line[n-hashSuffixLen:n-hashSuffixLen+9], []byte(`,"hash":"`)) ||
		!bytes.Equal(line[n-2:], []byte(`"}`)) {
		return claimed, actual, errors.New("not a record line")
	}
	hx := line[n-2-2*hashSize : n-2]
	if _, err := hex.Decode(claimed[:], hx); err != nil || !isLowerHex(hx) {
		return claimed, actual, errors.New("hash is not 64 lowercase hex digits")
	}
	h := sha256.New()
	h.Write(prev)
	h.Write(line[:n-2-2*hashSize])
	h.Write(line[n-2:])
	h.Sum(actual[:0])
	return claimed, actual, nil
}

func isLowerHex(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// checkpointMessage returns the bytes a checkpoint signature covers:
//
//	"keyhole.audit.checkpoint.v1\n" + {"seq":N,"head":"<hex>","time":"<RFC 3339>","kid":"<kid>"}
//
// seq and head are those of the last record the checkpoint covers, time is
// the checkpoint record's own time in UTC, RFC 3339 with nanoseconds as
// encoding/json writes a time.Time.
func checkpointMessage(seq uint64, head string, t time.Time, kid string) []byte {
	msg := struct {
		Seq   uint64    `json:"seq"`
		Head  string    `json:"head"`
		Time  time.Time `json:"time"`
		KeyID string    `json:"kid"`
	}{seq, head, t.UTC(), kid}
	b, err := json.Marshal(msg)
	if err != nil {
		// Only a time outside years 0-9999 fails; the writer's clock
		// never produces one.
		panic(fmt.Sprintf("audit: checkpoint message: %v", err))
	}
	return append([]byte(checkpointDomain), b...)
}

// signCheckpoint fills c.Signature.
func signCheckpoint(c *Checkpoint, t time.Time, key ed25519.PrivateKey) {
	sig := ed25519.Sign(key, checkpointMessage(c.Seq, c.Head, t, c.KeyID))
	c.Signature = base64.RawURLEncoding.EncodeToString(sig)
}

// verifyCheckpoint reports whether c carries a valid signature by pub.
func verifyCheckpoint(c *Checkpoint, t time.Time, pub ed25519.PublicKey) bool {
	sig, err := base64.RawURLEncoding.DecodeString(c.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return false
	}
	return ed25519.Verify(pub, checkpointMessage(c.Seq, c.Head, t, c.KeyID), sig)
}
