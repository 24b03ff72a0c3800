package grants

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Errors of token verification. They are wrapped with context; test with
// errors.Is. None of them ever carries the token itself.
var (
	// ErrInvalidGrant: the token is not a grant keyhole issued: malformed,
	// bad signature, unknown key, an algorithm other than EdDSA (including
	// "none"), the wrong typ (a session identity is not a grant), or a
	// required claim missing.
	ErrInvalidGrant = errors.New("grants: invalid grant")
	// ErrInvalidIdentity is ErrInvalidGrant's counterpart for session
	// identity tokens.
	ErrInvalidIdentity = errors.New("grants: invalid session identity")
	// ErrExpired: now is at or past exp (plus leeway).
	ErrExpired = errors.New("grants: expired")
	// ErrNotYetValid: now is before nbf (minus leeway).
	ErrNotYetValid = errors.New("grants: not yet valid")
	// ErrWrongAudience: the grant names another resource.
	ErrWrongAudience = errors.New("grants: wrong audience")
	// ErrWrongIssuer: the grant was issued by another issuer.
	ErrWrongIssuer = errors.New("grants: wrong issuer")
	// ErrNotYours: the grant is bound to another session.
	ErrNotYours = errors.New("grants: not yours")
)

// JWS typ headers. Grants and session identities are signed with the same
// key, so the typ is what keeps one from ever being accepted as the other.
const (
	grantType    = "keyhole-grant+jwt"
	identityType = "keyhole-session+jwt"
)

// maxTokenSize bounds the work done on input an agent controls before its
// signature is checked.
const maxTokenSize = 64 << 10

// GrantClaims are the claims of a grant, as issued. Times are carried as
// NumericDate (whole seconds, rounded down).
type GrantClaims struct {
	ID         string    // jti
	Issuer     string    // iss
	Subject    string    // sub: the session's SPIFFE id
	Audience   string    // aud: the resource name
	Scope      Scope     // scope: privilege, tables, columns
	IssuedAt   time.Time // iat
	NotBefore  time.Time // nbf
	Expiry     time.Time // exp
	SessionID  string    // cnf.sid: the session the grant is bound to
	Agent      string    // agent
	ApprovedBy string    // approved_by: "policy", an admin, or the user
}

// grantJSON is the signed payload. Field order is the encoding: it is pinned
// by a test, change it only with a new typ.
type grantJSON struct {
	ID         string       `json:"jti"`
	Issuer     string       `json:"iss"`
	Subject    string       `json:"sub"`
	Audience   string       `json:"aud"`
	Scope      *Scope       `json:"scope"`
	IssuedAt   *int64       `json:"iat"`
	NotBefore  *int64       `json:"nbf"`
	Expiry     *int64       `json:"exp"`
	Cnf        *confirmJSON `json:"cnf"`
	Agent      string       `json:"agent,omitempty"`
	ApprovedBy string       `json:"approved_by,omitempty"`
}

type confirmJSON struct {
	SessionID string `json:"sid"`
}

// SignGrant signs c as a compact JWS (EdDSA, typ keyhole-grant+jwt, kid of
// the current key). It refuses claims that VerifyGrant would reject as
// incomplete, so keyhole never issues a grant it cannot honour.
func (k *KeyRing) SignGrant(c GrantClaims) (token string, err error) {
	switch {
	case c.ID == "", c.Subject == "", c.Audience == "", c.SessionID == "", c.Issuer == "":
		return "", errors.New("grants: sign grant: jti, iss, sub, aud and session id are required")
	case c.IssuedAt.IsZero(), c.NotBefore.IsZero(), c.Expiry.IsZero():
		return "", errors.New("grants: sign grant: iat, nbf and exp are required")
	case !c.Expiry.After(c.NotBefore):
		return "", errors.New("grants: sign grant: exp must be after nbf")
	}
	if err := checkScope(c.Scope); err != nil {
		return "", fmt.Errorf("grants: sign grant: %w", err)
	}
	iat, nbf, exp := c.IssuedAt.Unix(), c.NotBefore.Unix(), c.Expiry.Unix()
	payload, err := json.Marshal(grantJSON{
		ID: c.ID, Issuer: c.Issuer, Subject: c.Subject, Audience: c.Audience,
		Scope:    &c.Scope,
		IssuedAt: &iat, NotBefore: &nbf, Expiry: &exp,
		Cnf:   &confirmJSON{SessionID: c.SessionID},
		Agent: c.Agent, ApprovedBy: c.ApprovedBy,
	})
	if err != nil {
		return "", fmt.Errorf("grants: sign grant: %w", err)
	}
	token, err = k.sign(grantType, payload)
	if err != nil {
		return "", fmt.Errorf("grants: sign grant: %w", err)
	}
	return token, nil
}

func checkScope(s Scope) error {
	if _, err := ParsePrivilege(string(s.Privilege)); err != nil {
		return fmt.Errorf("scope: %w", err)
	}
	if len(s.Tables) == 0 {
		return errors.New("scope: no tables")
	}
	for _, t := range s.Tables {
		if t.Schema == "" || t.Name == "" {
			return errors.New("scope: table without schema or name")
		}
	}
	return nil
}

// VerifyOptions say what a grant must match. Every field but Leeway is
// required; Leeway, the clock skew tolerated on nbf and exp, is zero unless
// set.
type VerifyOptions struct {
	Audience  string        // the resource being queried
	SessionID string        // the session presenting the grant
	Issuer    string        // keyhole's issuer
	Now       time.Time     // the caller's clock, injectable
	Leeway    time.Duration // tolerated clock skew, >= 0
}

// Grant is a verified grant. Only VerifyGrant produces one: holding a *Grant
// means its signature, typ, issuer, audience, session binding and validity
// window were checked. It is immutable.
type Grant struct {
	c           GrantClaims
	fingerprint string
}

// ID returns the grant id (jti).
func (g *Grant) ID() string { return g.c.ID }

// Issuer returns iss.
func (g *Grant) Issuer() string { return g.c.Issuer }

// Subject returns sub, the SPIFFE id of the session the grant was issued to.
func (g *Grant) Subject() string { return g.c.Subject }

// Audience returns the resource the grant is for.
func (g *Grant) Audience() string { return g.c.Audience }

// Scope returns a copy of what the grant covers.
func (g *Grant) Scope() Scope { return cloneScope(g.c.Scope) }

// SessionID returns the session the grant is bound to (cnf.sid).
func (g *Grant) SessionID() string { return g.c.SessionID }

// Agent returns the agent the grant was issued to.
func (g *Grant) Agent() string { return g.c.Agent }

// ApprovedBy returns who approved the grant.
func (g *Grant) ApprovedBy() string { return g.c.ApprovedBy }

// IssuedAt returns iat.
func (g *Grant) IssuedAt() time.Time { return g.c.IssuedAt }

// NotBefore returns nbf.
func (g *Grant) NotBefore() time.Time { return g.c.NotBefore }

// Expiry returns exp.
func (g *Grant) Expiry() time.Time { return g.c.Expiry }

// Fingerprint returns the fingerprint of the token the grant was verified
// from: the only form of it that may be logged.
func (g *Grant) Fingerprint() string { return g.fingerprint }

// Claims returns a copy of the grant's claims.
func (g *Grant) Claims() GrantClaims {
	c := g.c
	c.Scope = cloneScope(c.Scope)
	return c
}

// LogValue logs what the grant allows, never the token.
func (g *Grant) LogValue() slog.Value {
	tables := make([]string, len(g.c.Scope.Tables))
	for i, t := range g.c.Scope.Tables {
		tables[i] = t.String()
	}
	return slog.GroupValue(
		slog.String("id", g.c.ID),
		slog.String("resource", g.c.Audience),
		slog.String("privilege", string(g.c.Scope.Privilege)),
		slog.Any("tables", tables),
		slog.Time("exp", g.c.Expiry),
	)
}

func cloneScope(s Scope) Scope {
	s.Tables = slices.Clone(s.Tables)
	for i := range s.Tables {
		s.Tables[i].Columns = slices.Clone(s.Tables[i].Columns)
	}
	return s
}

// VerifyGrant checks token and returns the grant it carries. The signature
// is checked, against any key the ring has ever used, before any claim is
// read; then the typ, the required claims, issuer, session binding, audience
// and finally the validity window at o.Now.
func (k *KeyRing) VerifyGrant(token string, o VerifyOptions) (*Grant, error) {
	switch {
	case o.Audience == "", o.SessionID == "", o.Issuer == "", o.Now.IsZero():
		return nil, errors.New("grants: verify grant: audience, session id, issuer and now are required")
	case o.Leeway < 0:
		return nil, errors.New("grants: verify grant: negative leeway")
	}
	payload, err := k.verify(token, grantType)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidGrant, err)
	}
	var j grantJSON
	if err := json.Unmarshal(payload, &j); err != nil {
		return nil, fmt.Errorf("%w: claims: %w", ErrInvalidGrant, err)
	}
	switch {
	case j.ID == "" || j.Issuer == "" || j.Subject == "" || j.Audience == "":
		return nil, fmt.Errorf("%w: jti, iss, sub and aud are required", ErrInvalidGrant)
	case j.IssuedAt == nil || j.NotBefore == nil || j.Expiry == nil:
		return nil, fmt.Errorf("%w: grant %s: iat, nbf and exp are required", ErrInvalidGrant, j.ID)
	case j.Cnf == nil || j.Cnf.SessionID == "":
		return nil, fmt.Errorf("%w: grant %s: no session binding (cnf.sid)", ErrInvalidGrant, j.ID)
	case j.Scope == nil:
		return nil, fmt.Errorf("%w: grant %s: no scope", ErrInvalidGrant, j.ID)
	}
	if err := checkScope(*j.Scope); err != nil {
		return nil, fmt.Errorf("%w: grant %s: %w", ErrInvalidGrant, j.ID, err)
	}
	c := GrantClaims{
		ID: j.ID, Issuer: j.Issuer, Subject: j.Subject, Audience: j.Audience,
		Scope:      *j.Scope,
		IssuedAt:   time.Unix(*j.IssuedAt, 0).UTC(),
		NotBefore:  time.Unix(*j.NotBefore, 0).UTC(),
		Expiry:     time.Unix(*j.Expiry, 0).UTC(),
		SessionID:  j.Cnf.SessionID,
		Agent:      j.Agent,
		ApprovedBy: j.ApprovedBy,
	}
	switch {
	case c.Issuer != o.Issuer:
		return nil, fmt.Errorf("%w: grant %s was issued by %q, not %q", ErrWrongIssuer, c.ID, c.Issuer, o.Issuer)
	case c.SessionID != o.SessionID:
		// Before the audience: another session's grant must not reveal
		// which resource it covers.
		return nil, fmt.Errorf("%w: grant %s is bound to another session", ErrNotYours, c.ID)
	case c.Audience != o.Audience:
		return nil, fmt.Errorf("%w: grant %s is for resource %q, not %q", ErrWrongAudience, c.ID, c.Audience, o.Audience)
	case !o.Now.Before(c.Expiry.Add(o.Leeway)):
		return nil, fmt.Errorf("%w: grant %s expired at %s", ErrExpired, c.ID, c.Expiry.Format(time.RFC3339))
	case o.Now.Before(c.NotBefore.Add(-o.Leeway)):
		return nil, fmt.Errorf("%w: grant %s is not valid before %s", ErrNotYetValid, c.ID, c.NotBefore.Format(time.RFC3339))
	}
	return &Grant{c: c, fingerprint: Fingerprint(token)}, nil
}

// Fingerprint identifies a token without revealing it: "sha256:" and the
// first 16 hex digits of its SHA-256. It is the only form in which a token
// may appear in logs and the audit trail.
func Fingerprint(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "sha256:" + hex.EncodeToString(sum[:8])
}

// sign returns payload as a compact JWS signed with the current key, with
// the given typ and the key's kid in the protected header.
func (k *KeyRing) sign(typ string, payload []byte) (string, error) {
	k.mu.RLock()
	priv, kid := k.signer.k, k.kid
	k.mu.RUnlock()
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.EdDSA, Key: priv},
		(&jose.SignerOptions{}).WithType(jose.ContentType(typ)).WithHeader(jose.HeaderKey("kid"), kid),
	)
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// verify checks a compact JWS signed by a key of the ring with typ, and
// returns its payload. The header must hold exactly alg (EdDSA), kid and
// typ: no embedded keys, certificates, nonces or critical extensions that
// a verifier might be talked into honouring.
func (k *KeyRing) verify(token, typ string) ([]byte, error) {
	if len(token) > maxTokenSize {
		return nil, errors.New("token too large")
	}
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		return nil, errors.New("malformed or not EdDSA")
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("want exactly one signature")
	}
	h := jws.Signatures[0].Protected
	if h.Algorithm != string(jose.EdDSA) || h.JSONWebKey != nil || h.Nonce != "" || len(jws.Signatures[0].Unprotected.ExtraHeaders) != 0 {
		return nil, errors.New("unexpected header")
	}
	for name := range h.ExtraHeaders {
		if name != jose.HeaderType {
			return nil, fmt.Errorf("unexpected header %q", name)
		}
	}
	pub, ok := k.PublicKey(h.KeyID)
	if !ok {
		return nil, errors.New("unknown signing key")
	}
	payload, err := jws.Verify(pub)
	if err != nil {
		return nil, errors.New("bad signature")
	}
	// Checked after the signature: the header is only trusted once signed.
	if got, _ := h.ExtraHeaders[jose.HeaderType].(string); got != typ {
		return nil, fmt.Errorf("typ %q, want %q", got, typ)
	}
	if _, err := h.Certificates(x509.VerifyOptions{}); !errors.Is(err, jose.ErrMissingX5cHeader) {
		return nil, errors.New("unexpected x5c header")
	}
	if !json.Valid(payload) || !bytes.HasPrefix(bytes.TrimSpace(payload), []byte("{")) {
		return nil, errors.New("payload is not a JSON object")
	}
	return payload, nil
}
