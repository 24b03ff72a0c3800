package grants

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fixedKey returns a fixed Ed25519 key derived from name, so tokens are
// reproducible byte for byte (Ed25519 signatures are deterministic).
func fixedKey(name string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("keyhole test key " + name))
	return ed25519.NewKeyFromSeed(seed[:])
}

var (
	sampleTime    = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	sampleSession = "0123456789abcdefghijklmnop"
)

func sampleClaims() GrantClaims {
	return GrantClaims{
		ID:         "g_01",
		Issuer:     "spiffe://example.org/keyhole",
		Subject:    SPIFFEID("example.org", "analytics-worker", sampleSession),
		Audience:   "analytics",
		Scope:      Scope{Privilege: Read, Tables: []TableScope{{Table: Table{"public", "orders"}}, {Table: Table{"public", "customers"}, Columns: []string{"id", "region"}}}},
		IssuedAt:   sampleTime,
		NotBefore:  sampleTime,
		Expiry:     sampleTime.Add(15 * time.Minute),
		SessionID:  sampleSession,
		Agent:      "analytics-worker",
		ApprovedBy: "policy",
	}
}

func sampleOptions() VerifyOptions {
	return VerifyOptions{Audience: "analytics", SessionID: sampleSession, Issuer: "spiffe://example.org/keyhole", Now: sampleTime.Add(time.Minute)}
}

// rawToken assembles a compact JWS by hand, so tests can build what the
// ring never would: other algorithms, other headers, tampered claims.
func rawToken(t testing.TB, header, payload any, sign func(input []byte) []byte) string {
	t.Helper()
	enc := func(v any) string {
		b, ok := v.([]byte)
		if !ok {
			var err error
			if b, err = json.Marshal(v); err != nil {
				t.Fatal(err)
			}
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	input := enc(header) + "." + enc(payload)
	return input + "." + base64.RawURLEncoding.EncodeToString(sign([]byte(input)))
}

func edSigner(priv ed25519.PrivateKey) func([]byte) []byte {
	return func(in []byte) []byte { return ed25519.Sign(priv, in) }
}

// claimsMap is sampleClaims as the signed JSON object, for tests that remove
// or change one claim.
func claimsMap(t testing.TB) map[string]any {
	t.Helper()
	tok, err := newKeyRing(fixedKey("keyhole")).SignGrant(sampleClaims())
	if err != nil {
		t.Fatal(err)
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func claimsWithout(m map[string]any, keys ...string) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	for _, k := range keys {
		delete(out, k)
	}
	return out
}

func claimsWith(m map[string]any, key string, v any) map[string]any {
	out := claimsWithout(m)
	out[key] = v
	return out
}

func TestVerifyGrant(t *testing.T) {
	priv := fixedKey("keyhole")
	k := newKeyRing(priv)
	kid := k.KeyID()
	attacker := fixedKey("attacker")
	good, err := k.SignGrant(sampleClaims())
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")
	claims := claimsMap(t)
	header := map[string]any{"alg": "EdDSA", "kid": kid, "typ": grantType}
	signed := func(payload any) string { return rawToken(t, header, payload, edSigner(priv)) }
	identity, err := k.SignIdentity(SessionIdentity{
		ID: sampleSession, Agent: "analytics-worker", TrustDomain: "example.org",
		Principal: Principal{Kind: "os", Subject: "alice"},
		IssuedAt:  sampleTime, Expiry: sampleTime.Add(time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	flip := func(s string, i int) string {
		b, _ := base64.RawURLEncoding.DecodeString(s)
		b[i] ^= 1
		return base64.RawURLEncoding.EncodeToString(b)
	}
	mutate := func(f func(*GrantClaims)) string {
		c := sampleClaims()
		f(&c)
		tok, err := k.SignGrant(c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}

	tests := []struct {
		name    string
		token   string
		opts    func(*VerifyOptions)
		wantErr error
	}{
		// Time.
		{name: "expired at exp", token: good, opts: func(o *VerifyOptions) { o.Now = sampleTime.Add(15 * time.Minute) }, wantErr: ErrExpired},
		{name: "expired after exp", token: good, opts: func(o *VerifyOptions) { o.Now = sampleTime.Add(time.Hour) }, wantErr: ErrExpired},
		{name: "expired beyond leeway", token: good, opts: func(o *VerifyOptions) {
			o.Now, o.Leeway = sampleTime.Add(15*time.Minute+5*time.Second), 5*time.Second
		}, wantErr: ErrExpired},
		{name: "not yet valid", token: good, opts: func(o *VerifyOptions) { o.Now = sampleTime.Add(-time.Second) }, wantErr: ErrNotYetValid},
		{name: "not yet valid beyond leeway", token: good, opts: func(o *VerifyOptions) {
			o.Now, o.Leeway = sampleTime.Add(-6*time.Second), 5*time.Second
		}, wantErr: ErrNotYetValid},
		{name: "nbf in the future", token: mutate(func(c *GrantClaims) { c.NotBefore = sampleTime.Add(5 * time.Minute) }), wantErr: ErrNotYetValid},
		// Binding.
		{name: "wrong audience", token: good, opts: func(o *VerifyOptions) { o.Audience = "billing" }, wantErr: ErrWrongAudience},
		{name: "wrong issuer", token: good, opts: func(o *VerifyOptions) { o.Issuer = "spiffe://evil.example/keyhole" }, wantErr: ErrWrongIssuer},
		{name: "other session", token: good, opts: func(o *VerifyOptions) { o.SessionID = NewSessionID() }, wantErr: ErrNotYours},
		{name: "other session, also expired", token: good, opts: func(o *VerifyOptions) {
			o.SessionID, o.Now = NewSessionID(), sampleTime.Add(time.Hour)
		}, wantErr: ErrNotYours},
		// Algorithms.
		{name: "alg none", token: parts[0][:0] + base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"`+kid+`","typ":"`+grantType+`"}`)) + "." + parts[1] + ".", wantErr: ErrInvalidGrant},
		{name: "alg none with signature", token: rawToken(t, map[string]any{"alg": "none", "kid": kid, "typ": grantType}, claims, edSigner(priv)), wantErr: ErrInvalidGrant},
		{name: "alg HS256 keyed with the public key", token: rawToken(t, map[string]any{"alg": "HS256", "kid": kid, "typ": grantType}, claims, func(in []byte) []byte {
			m := hmac.New(sha256.New, priv.Public().(ed25519.PublicKey))
			m.Write(in)
			return m.Sum(nil)
		}), wantErr: ErrInvalidGrant},
		{name: "alg HS256 keyed with the JWKS", token: rawToken(t, map[string]any{"alg": "HS256", "kid": kid, "typ": grantType}, claims, func(in []byte) []byte {
			m := hmac.New(sha256.New, k.JWKS())
			m.Write(in)
			return m.Sum(nil)
		}), wantErr: ErrInvalidGrant},
		{name: "alg ES256", token: rawToken(t, map[string]any{"alg": "ES256", "kid": kid, "typ": grantType}, claims, edSigner(priv)), wantErr: ErrInvalidGrant},
		{name: "alg eddsa lower case", token: rawToken(t, map[string]any{"alg": "eddsa", "kid": kid, "typ": grantType}, claims, edSigner(priv)), wantErr: ErrInvalidGrant},
		// Tampering.
		{name: "tampered payload", token: parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(mustB64(t, parts[1])), `"read"`, `"write"`, 1))) + "." + parts[2], wantErr: ErrInvalidGrant},
		{name: "tampered payload bit", token: parts[0] + "." + flip(parts[1], 3) + "." + parts[2], wantErr: ErrInvalidGrant},
		{name: "tampered signature", token: parts[0] + "." + parts[1] + "." + flip(parts[2], 10), wantErr: ErrInvalidGrant},
		{name: "signature removed", token: parts[0] + "." + parts[1] + ".", wantErr: ErrInvalidGrant},
		{name: "tampered header", token: base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"EdDSA","kid":"`+kid+`","typ":"`+grantType+`" }`)) + "." + parts[1] + "." + parts[2], wantErr: ErrInvalidGrant},
		{name: "signature of another token", token: parts[0] + "." + parts[1] + "." + strings.Split(mutate(func(c *GrantClaims) { c.Scope.Privilege = Write }), ".")[2], wantErr: ErrInvalidGrant},
		// Keys.
		{name: "unknown kid", token: mustSignGrant(t, newKeyRing(attacker), sampleClaims()), wantErr: ErrInvalidGrant},
		{name: "our kid, attacker's key", token: rawToken(t, header, claims, edSigner(attacker)), wantErr: ErrInvalidGrant},
		{name: "no kid", token: rawToken(t, map[string]any{"alg": "EdDSA", "typ": grantType}, claims, edSigner(priv)), wantErr: ErrInvalidGrant},
		{name: "embedded attacker jwk", token: rawToken(t, map[string]any{"alg": "EdDSA", "typ": grantType, "jwk": map[string]any{
			"kty": "OKP", "crv": "Ed25519", "x": base64.RawURLEncoding.EncodeToString(attacker.Public().(ed25519.PublicKey)),
		}}, claims, edSigner(attacker)), wantErr: ErrInvalidGrant},
		{name: "embedded jwk and our kid", token: rawToken(t, map[string]any{"alg": "EdDSA", "kid": kid, "typ": grantType, "jwk": map[string]any{
			"kty": "OKP", "crv": "Ed25519", "x": base64.RawURLEncoding.EncodeToString(priv.Public().(ed25519.PublicKey)),
		}}, claims, edSigner(priv)), wantErr: ErrInvalidGrant},
		{name: "critical extension", token: rawToken(t, map[string]any{"alg": "EdDSA", "kid": kid, "typ": grantType, "crit": []string{"b64"}, "b64": true}, claims, edSigner(priv)), wantErr: ErrInvalidGrant},
		{name: "unknown header", token: rawToken(t, map[string]any{"alg": "EdDSA", "kid": kid, "typ": grantType, "x-admin": true}, claims, edSigner(priv)), wantErr: ErrInvalidGrant},
		// Type confusion.
		{name: "session identity presented as grant", token: identity, wantErr: ErrInvalidGrant},
		{name: "no typ", token: rawToken(t, map[string]any{"alg": "EdDSA", "kid": kid}, claims, edSigner(priv)), wantErr: ErrInvalidGrant},
		{name: "typ JWT", token: rawToken(t, map[string]any{"alg": "EdDSA", "kid": kid, "typ": "JWT"}, claims, edSigner(priv)), wantErr: ErrInvalidGrant},
		{name: "typ session", token: rawToken(t, map[string]any{"alg": "EdDSA", "kid": kid, "typ": identityType}, claims, edSigner(priv)), wantErr: ErrInvalidGrant},
		// Missing or malformed claims, properly signed.
		{name: "missing jti", token: signed(claimsWithout(claims, "jti")), wantErr: ErrInvalidGrant},
		{name: "missing iss", token: signed(claimsWithout(claims, "iss")), wantErr: ErrInvalidGrant},
		{name: "missing sub", token: signed(claimsWithout(claims, "sub")), wantErr: ErrInvalidGrant},
		{name: "missing aud", token: signed(claimsWithout(claims, "aud")), wantErr: ErrInvalidGrant},
		{name: "missing exp", token: signed(claimsWithout(claims, "exp")), wantErr: ErrInvalidGrant},
		{name: "missing nbf", token: signed(claimsWithout(claims, "nbf")), wantErr: ErrInvalidGrant},
		{name: "missing iat", token: signed(claimsWithout(claims, "iat")), wantErr: ErrInvalidGrant},
		{name: "missing cnf", token: signed(claimsWithout(claims, "cnf")), wantErr: ErrInvalidGrant},
		{name: "empty cnf", token: signed(claimsWith(claims, "cnf", map[string]any{})), wantErr: ErrInvalidGrant},
		{name: "missing scope", token: signed(claimsWithout(claims, "scope")), wantErr: ErrInvalidGrant},
		{name: "scope without tables", token: signed(claimsWith(claims, "scope", map[string]any{"privilege": "read", "tables": []any{}})), wantErr: ErrInvalidGrant},
		{name: "scope with unknown privilege", token: signed(claimsWith(claims, "scope", map[string]any{"privilege": "admin", "tables": []any{map[string]any{"schema": "public", "name": "orders"}}})), wantErr: ErrInvalidGrant},
		{name: "empty jti", token: signed(claimsWith(claims, "jti", "")), wantErr: ErrInvalidGrant},
		{name: "exp as string", token: signed(claimsWith(claims, "exp", "2100-01-01T00:00:00Z")), wantErr: ErrInvalidGrant},
		{name: "exp as fraction", token: signed(claimsWith(claims, "exp", 1.5e9+0.5)), wantErr: ErrInvalidGrant},
		{name: "aud as array", token: signed(claimsWith(claims, "aud", []string{"analytics"})), wantErr: ErrInvalidGrant},
		{name: "payload not an object", token: signed([]byte(`["jti"]`)), wantErr: ErrInvalidGrant},
		{name: "payload not JSON", token: signed([]byte(`jti=g_01`)), wantErr: ErrInvalidGrant},
		// Garbage.
		{name: "empty", token: "", wantErr: ErrInvalidGrant},
		{name: "dots", token: "..", wantErr: ErrInvalidGrant},
		{name: "two parts", token: parts[0] + "." + parts[1], wantErr: ErrInvalidGrant},
		{name: "four parts", token: good + ".x", wantErr: ErrInvalidGrant},
		{name: "not base64", token: "!!!.???.***", wantErr: ErrInvalidGrant},
		{name: "json serialization", token: `{"protected":"` + parts[0] + `","payload":"` + parts[1] + `","signature":"` + parts[2] + `"}`, wantErr: ErrInvalidGrant},
		{name: "leading space", token: " " + good, wantErr: ErrInvalidGrant},
		{name: "huge", token: strings.Repeat("a", maxTokenSize) + "." + parts[1] + "." + parts[2], wantErr: ErrInvalidGrant},
		// Accepted.
		{name: "valid", token: good},
		{name: "valid at nbf", token: good, opts: func(o *VerifyOptions) { o.Now = sampleTime }},
		{name: "valid just before exp", token: good, opts: func(o *VerifyOptions) { o.Now = sampleTime.Add(15*time.Minute - time.Nanosecond) }},
		{name: "valid within leeway after exp", token: good, opts: func(o *VerifyOptions) {
			o.Now, o.Leeway = sampleTime.Add(15*time.Minute+4*time.Second), 5*time.Second
		}},
		{name: "valid within leeway before nbf", token: good, opts: func(o *VerifyOptions) {
			o.Now, o.Leeway = sampleTime.Add(-5*time.Second), 5*time.Second
		}},
		{name: "valid without optional claims", token: signed(claimsWithout(claims, "agent", "approved_by"))},
		{name: "valid with an unknown claim", token: signed(claimsWith(claims, "ext", 1))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := sampleOptions()
			if tt.opts != nil {
				tt.opts(&o)
			}
			g, err := k.VerifyGrant(tt.token, o)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("VerifyGrant: %v", err)
				}
				if g.ID() != "g_01" || g.SessionID() != sampleSession || g.Fingerprint() != Fingerprint(tt.token) {
					t.Errorf("grant = %v", g.Claims())
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("VerifyGrant: err = %v, want %v", err, tt.wantErr)
			}
			t.Logf("refused: %v", err)
			if g != nil {
				t.Errorf("VerifyGrant returned a grant with error %v", err)
			}
			if tt.token != "" && len(tt.token) > 8 && strings.Contains(err.Error(), tt.token) {
				t.Errorf("error text contains the token: %v", err)
			}
		})
	}
}

func mustB64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustSignGrant(t testing.TB, k *KeyRing, c GrantClaims) string {
	t.Helper()
	tok, err := k.SignGrant(c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestVerifyGrantOptionsRequired(t *testing.T) {
	k := newKeyRing(fixedKey("keyhole"))
	tok := mustSignGrant(t, k, sampleClaims())
	for name, f := range map[string]func(*VerifyOptions){
		"audience":        func(o *VerifyOptions) { o.Audience = "" },
		"session":         func(o *VerifyOptions) { o.SessionID = "" },
		"issuer":          func(o *VerifyOptions) { o.Issuer = "" },
		"now":             func(o *VerifyOptions) { o.Now = time.Time{} },
		"negative leeway": func(o *VerifyOptions) { o.Leeway = -time.Second },
	} {
		t.Run(name, func(t *testing.T) {
			o := sampleOptions()
			f(&o)
			if g, err := k.VerifyGrant(tok, o); err == nil {
				t.Fatalf("VerifyGrant accepted options without %s: %v", name, g.Claims())
			}
		})
	}
}

func TestSignGrantRefusesIncompleteClaims(t *testing.T) {
	k := newKeyRing(fixedKey("keyhole"))
	for name, f := range map[string]func(*GrantClaims){
		"no jti":            func(c *GrantClaims) { c.ID = "" },
		"no iss":            func(c *GrantClaims) { c.Issuer = "" },
		"no sub":            func(c *GrantClaims) { c.Subject = "" },
		"no aud":            func(c *GrantClaims) { c.Audience = "" },
		"no session":        func(c *GrantClaims) { c.SessionID = "" },
		"no iat":            func(c *GrantClaims) { c.IssuedAt = time.Time{} },
		"no nbf":            func(c *GrantClaims) { c.NotBefore = time.Time{} },
		"no exp":            func(c *GrantClaims) { c.Expiry = time.Time{} },
		"exp before nbf":    func(c *GrantClaims) { c.Expiry = c.NotBefore.Add(-time.Second) },
		"exp at nbf":        func(c *GrantClaims) { c.Expiry = c.NotBefore },
		"no privilege":      func(c *GrantClaims) { c.Scope.Privilege = "" },
		"no tables":         func(c *GrantClaims) { c.Scope.Tables = nil },
		"table sans schema": func(c *GrantClaims) { c.Scope.Tables = []TableScope{{Table: Table{Name: "orders"}}} },
	} {
		t.Run(name, func(t *testing.T) {
			c := sampleClaims()
			f(&c)
			if tok, err := k.SignGrant(c); err == nil {
				t.Fatalf("SignGrant signed incomplete claims: %s", Fingerprint(tok))
			}
		})
	}
}

// TestGrantEncodingPinned pins the bytes of a grant: a refactor must not
// silently change what keyhole signs, or grants issued by one version would
// not verify in the next.
func TestGrantEncodingPinned(t *testing.T) {
	k := newKeyRing(fixedKey("keyhole"))
	tok := mustSignGrant(t, k, sampleClaims())
	parts := strings.Split(tok, ".")
	wantHeader := `{"alg":"EdDSA","kid":"` + k.KeyID() + `","typ":"keyhole-grant+jwt"}`
	wantPayload := `{"jti":"g_01","iss":"spiffe://example.org/keyhole","sub":"spiffe://example.org/agent/analytics-worker/session/0123456789abcdefghijklmnop","aud":"analytics",` +
		`"scope":{"privilege":"read","tables":[{"schema":"public","name":"orders"},{"schema":"public","name":"customers","columns":["id","region"]}]},` +
		`"iat":1893553445,"nbf":1893553445,"exp":1893554345,"cnf":{"sid":"0123456789abcdefghijklmnop"},"agent":"analytics-worker","approved_by":"policy"}`
	if got := string(mustB64(t, parts[0])); got != wantHeader {
		t.Errorf("header:\n got %s\nwant %s", got, wantHeader)
	}
	if got := string(mustB64(t, parts[1])); got != wantPayload {
		t.Errorf("payload:\n got %s\nwant %s", got, wantPayload)
	}
	const wantFingerprint = "sha256:db01b0cd36ce24ca"
	if got := Fingerprint(tok); got != wantFingerprint {
		t.Errorf("Fingerprint(token) = %s, want %s (the whole token changed)", got, wantFingerprint)
	}
}

func TestGrantAccessors(t *testing.T) {
	k := newKeyRing(fixedKey("keyhole"))
	c := sampleClaims()
	c.IssuedAt = sampleTime.Add(-time.Second + 500*time.Millisecond) // rounded down to whole seconds
	tok := mustSignGrant(t, k, c)
	g, err := k.VerifyGrant(tok, sampleOptions())
	if err != nil {
		t.Fatal(err)
	}
	want := sampleClaims()
	want.IssuedAt = sampleTime.Add(-time.Second)
	if got := g.Claims(); !reflect.DeepEqual(got, want) {
		t.Errorf("Claims() = %+v\nwant %+v", got, want)
	}
	if g.ID() != want.ID || g.Issuer() != want.Issuer || g.Subject() != want.Subject || g.Audience() != want.Audience ||
		g.SessionID() != want.SessionID || g.Agent() != want.Agent || g.ApprovedBy() != want.ApprovedBy ||
		!g.IssuedAt().Equal(want.IssuedAt) || !g.NotBefore().Equal(want.NotBefore) || !g.Expiry().Equal(want.Expiry) ||
		!reflect.DeepEqual(g.Scope(), want.Scope) {
		t.Errorf("accessors disagree with claims %+v", want)
	}
	// A Grant is immutable: changing what an accessor returned changes nothing.
	s := g.Scope()
	s.Privilege = Write
	s.Tables[0].Name = "secrets"
	s.Tables[1].Columns[0] = "ssn"
	if !reflect.DeepEqual(g.Scope(), want.Scope) {
		t.Errorf("Scope() aliases the grant's scope: %+v", g.Scope())
	}
}

func TestGrantLogValue(t *testing.T) {
	k := newKeyRing(fixedKey("keyhole"))
	tok := mustSignGrant(t, k, sampleClaims())
	g, err := k.VerifyGrant(tok, sampleOptions())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Log(context.Background(), slog.LevelInfo, "granted", "grant", g)
	got := buf.String()
	for _, want := range []string{`"id":"g_01"`, `"resource":"analytics"`, `"privilege":"read"`, `"tables":["public.orders","public.customers(id, region)"]`, `"exp":"2030-01-02T03:19:05Z"`} {
		if !strings.Contains(got, want) {
			t.Errorf("log %s\nlacks %s", got, want)
		}
	}
	for _, part := range strings.Split(tok, ".") {
		if strings.Contains(got, part) {
			t.Errorf("log contains part of the token: %s", got)
		}
	}
}

func TestFingerprint(t *testing.T) {
	// SHA-256("abc") = ba7816bf8f01cfea414140de5dae2223...
	if got, want := Fingerprint("abc"), "sha256:ba7816bf8f01cfea"; got != want {
		t.Errorf("Fingerprint(abc) = %s, want %s", got, want)
	}
}

func TestRotateKeepsOldGrantsValid(t *testing.T) {
	k, err := LoadOrCreateKeys(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	old := mustSignGrant(t, k, sampleClaims())
	oldKID := k.KeyID()
	if err := k.Rotate(); err != nil {
		t.Fatal(err)
	}
	if k.KeyID() == oldKID {
		t.Fatal("Rotate kept the kid")
	}
	fresh := mustSignGrant(t, k, sampleClaims())
	for name, tok := range map[string]string{"before rotation": old, "after rotation": fresh} {
		if _, err := k.VerifyGrant(tok, sampleOptions()); err != nil {
			t.Errorf("grant signed %s: %v", name, err)
		}
	}
	if kidOf(t, fresh) != k.KeyID() || kidOf(t, old) != oldKID {
		t.Errorf("kids: old %s, fresh %s; ring %s", kidOf(t, old), kidOf(t, fresh), k.KeyID())
	}
}

func kidOf(t testing.TB, tok string) string {
	t.Helper()
	var h struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(mustB64(t, strings.Split(tok, ".")[0]), &h); err != nil {
		t.Fatal(err)
	}
	return h.Kid
}

func BenchmarkSignGrant(b *testing.B) {
	k := newKeyRing(fixedKey("keyhole"))
	c := sampleClaims()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.SignGrant(c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyGrant(b *testing.B) {
	k := newKeyRing(fixedKey("keyhole"))
	tok := mustSignGrant(b, k, sampleClaims())
	o := sampleOptions()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.VerifyGrant(tok, o); err != nil {
			b.Fatal(err)
		}
	}
}
