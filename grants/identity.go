package grants

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// SessionIdentity is who is on the other end of an MCP session: minted when
// the session starts, signed with keyhole's key (typ keyhole-session+jwt) and
// written to the audit trail. Its ID is the session binding (cnf.sid) of
// every grant issued in the session, and its SPIFFE id their subject.
type SessionIdentity struct {
	ID            string    // session id, from NewSessionID
	SPIFFE        string    // spiffe://<trust-domain>/agent/<agent>/session/<id>
	Agent         string    // the configured agent name
	TrustDomain   string    // keyhole's trust domain
	Principal     Principal // what proved the agent's identity
	ClientName    string    // MCP client name, as the client gave it
	ClientVersion string    // MCP client version, as the client gave it
	IssuedAt      time.Time
	Expiry        time.Time
}

// Principal is who proved the agent's identity on this connection: for stdio
// the OS user and the parent process that spawned keyhole, for HTTP the
// verified credential. The JSON names match the audit trail's.
type Principal struct {
	Kind          string `json:"kind"`    // "os" for stdio; "oidc", "mtls", "enrollment" for HTTP
	Subject       string `json:"subject"` // OS user name, or the credential's subject
	Issuer        string `json:"issuer,omitempty"`
	UID           int    `json:"uid,omitempty"` // OS user id, for kind "os"
	ParentPID     int    `json:"parent_pid,omitempty"`
	ParentCommand string `json:"parent_command,omitempty"`
}

// LogValue logs the identity's ids and who it names; it holds no secret.
func (id *SessionIdentity) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("id", id.ID),
		slog.String("spiffe", id.SPIFFE),
		slog.String("agent", id.Agent),
		slog.String("principal", id.Principal.Kind+":"+id.Principal.Subject),
		slog.Time("exp", id.Expiry),
	)
}

// identityJSON is the signed payload of a session identity. Field order is
// the encoding: it is pinned by a test.
type identityJSON struct {
	ID          string      `json:"sid"`
	Subject     string      `json:"sub"`
	Agent       string      `json:"agent"`
	TrustDomain string      `json:"trust_domain"`
	Principal   *Principal  `json:"principal"`
	Client      *clientJSON `json:"client,omitempty"`
	IssuedAt    *int64      `json:"iat"`
	Expiry      *int64      `json:"exp"`
}

type clientJSON struct {
	Name    string `json:"name,omitempty"`
	Version string `json:"version,omitempty"`
}

// sessionIDEncoding is lower-case base32hex without padding: URL safe, a
// valid SPIFFE path segment, and sorted like the bytes it encodes.
var sessionIDEncoding = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)

// NewSessionID returns a fresh random session id: 128 bits from crypto/rand
// as 26 lower-case base32hex characters.
func NewSessionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (it crashes the program instead)
	return sessionIDEncoding.EncodeToString(b[:])
}

// SPIFFEID returns spiffe://<trustDomain>/agent/<agent>/session/<sessionID>.
// Agent and session id are escaped into valid SPIFFE path segments: letters,
// digits, '.' and '-' stay; every other byte, '_' included, becomes '_' and
// two upper-case hex digits, so distinct names never share an id. A segment
// of only dots has its dots escaped too, and an empty one becomes "_".
// The trust domain is used as given; ValidateTrustDomain checks it.
func SPIFFEID(trustDomain, agent, sessionID string) string {
	return "spiffe://" + trustDomain + "/agent/" + escapeSegment(agent) + "/session/" + escapeSegment(sessionID)
}

func escapeSegment(s string) string {
	if s == "" {
		return "_"
	}
	onlyDots := strings.Trim(s, ".") == ""
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		plain := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' && !onlyDots
		if plain {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "_%02X", c)
	}
	return b.String()
}

// ValidateTrustDomain checks td against the SPIFFE trust domain rules:
// non-empty, at most 255 bytes, only lower-case letters, digits, '.', '-'
// and '_'.
func ValidateTrustDomain(td string) error {
	if td == "" {
		return errors.New("trust domain is empty")
	}
	if len(td) > 255 {
		return errors.New("trust domain is longer than 255 bytes")
	}
	for i := 0; i < len(td); i++ {
		c := td[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return fmt.Errorf("trust domain %q: character %q not allowed (use lower-case letters, digits, '.', '-', '_')", td, c)
		}
	}
	return nil
}

// SignIdentity signs id as a compact JWS (EdDSA, typ keyhole-session+jwt).
// ID, Agent, TrustDomain, IssuedAt and Expiry are required; an empty SPIFFE
// is filled in, and one that does not match the others is refused.
func (k *KeyRing) SignIdentity(id SessionIdentity) (string, error) {
	if err := checkIdentity(&id); err != nil {
		return "", fmt.Errorf("grants: sign identity: %w", err)
	}
	iat, exp := id.IssuedAt.Unix(), id.Expiry.Unix()
	j := identityJSON{
		ID: id.ID, Subject: id.SPIFFE, Agent: id.Agent, TrustDomain: id.TrustDomain,
		Principal: &id.Principal,
		IssuedAt:  &iat, Expiry: &exp,
	}
	if id.ClientName != "" || id.ClientVersion != "" {
		j.Client = &clientJSON{Name: id.ClientName, Version: id.ClientVersion}
	}
	payload, err := json.Marshal(j)
	if err != nil {
		return "", fmt.Errorf("grants: sign identity: %w", err)
	}
	token, err := k.sign(identityType, payload)
	if err != nil {
		return "", fmt.Errorf("grants: sign identity: %w", err)
	}
	return token, nil
}

// checkIdentity validates id and fills in an empty SPIFFE id.
func checkIdentity(id *SessionIdentity) error {
	switch {
	case id.ID == "", id.Agent == "":
		return errors.New("session id and agent are required")
	case id.IssuedAt.IsZero(), id.Expiry.IsZero():
		return errors.New("iat and exp are required")
	case id.Expiry.Unix() <= id.IssuedAt.Unix():
		return errors.New("exp must be after iat")
	case id.Principal.Kind == "":
		return errors.New("principal kind is required")
	}
	if err := ValidateTrustDomain(id.TrustDomain); err != nil {
		return err
	}
	want := SPIFFEID(id.TrustDomain, id.Agent, id.ID)
	if id.SPIFFE == "" {
		id.SPIFFE = want
	}
	if id.SPIFFE != want {
		return fmt.Errorf("SPIFFE id %q does not match trust domain, agent and session (want %q)", id.SPIFFE, want)
	}
	return nil
}

// VerifyIdentity checks a session identity token signed by any key of the
// ring and valid at now (iat <= now < exp), and returns the identity.
//
// # Errors
//
// ErrInvalidIdentity for anything but a well-formed, complete identity
// signed by the ring (a grant is not an identity); ErrExpired;
// ErrNotYetValid when now is before iat.
func (k *KeyRing) VerifyIdentity(token string, now time.Time) (*SessionIdentity, error) {
	if now.IsZero() {
		return nil, errors.New("grants: verify identity: now is required")
	}
	payload, err := k.verify(token, identityType)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidIdentity, err)
	}
	var j identityJSON
	if err := json.Unmarshal(payload, &j); err != nil {
		return nil, fmt.Errorf("%w: claims: %w", ErrInvalidIdentity, err)
	}
	if j.Principal == nil || j.IssuedAt == nil || j.Expiry == nil {
		return nil, fmt.Errorf("%w: principal, iat and exp are required", ErrInvalidIdentity)
	}
	id := &SessionIdentity{
		ID: j.ID, SPIFFE: j.Subject, Agent: j.Agent, TrustDomain: j.TrustDomain,
		Principal: *j.Principal,
		IssuedAt:  time.Unix(*j.IssuedAt, 0).UTC(),
		Expiry:    time.Unix(*j.Expiry, 0).UTC(),
	}
	if j.Client != nil {
		id.ClientName, id.ClientVersion = j.Client.Name, j.Client.Version
	}
	if err := checkIdentity(id); err != nil || id.SPIFFE != j.Subject {
		return nil, fmt.Errorf("%w: incomplete or inconsistent claims", ErrInvalidIdentity)
	}
	switch {
	case !now.Before(id.Expiry):
		return nil, fmt.Errorf("%w: session identity %s expired at %s", ErrExpired, id.ID, id.Expiry.Format(time.RFC3339))
	case now.Before(id.IssuedAt):
		return nil, fmt.Errorf("%w: session identity %s is not valid before %s", ErrNotYetValid, id.ID, id.IssuedAt.Format(time.RFC3339))
	}
	return id, nil
}
