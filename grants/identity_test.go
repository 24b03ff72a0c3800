package grants

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

func sampleIdentity() SessionIdentity {
	return SessionIdentity{
		ID:          sampleSession,
		Agent:       "analytics-worker",
		TrustDomain: "example.org",
		Principal: Principal{
			Kind: "os", Subject: "alice", UID: 1000,
			ParentPID: 4242, ParentCommand: "claude --mcp-config keyhole.json",
		},
		ClientName:    "claude-code",
		ClientVersion: "2.1.0",
		IssuedAt:      sampleTime,
		Expiry:        sampleTime.Add(24 * time.Hour),
	}
}

func TestVerifyIdentity(t *testing.T) {
	priv := fixedKey("keyhole")
	k := newKeyRing(priv)
	good, err := k.SignIdentity(sampleIdentity())
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")
	var claims map[string]any
	if err := json.Unmarshal(mustB64(t, parts[1]), &claims); err != nil {
		t.Fatal(err)
	}
	header := map[string]any{"alg": "EdDSA", "kid": k.KeyID(), "typ": identityType}
	signed := func(payload any) string { return rawToken(t, header, payload, edSigner(priv)) }
	grant := mustSignGrant(t, k, sampleClaims())

	tests := []struct {
		name    string
		token   string
		now     time.Time
		wantErr error
	}{
		{name: "expired", token: good, now: sampleTime.Add(24 * time.Hour), wantErr: ErrExpired},
		{name: "before iat", token: good, now: sampleTime.Add(-time.Second), wantErr: ErrNotYetValid},
		{name: "grant presented as identity", token: grant, wantErr: ErrInvalidIdentity},
		{name: "alg none", token: rawToken(t, map[string]any{"alg": "none", "kid": k.KeyID(), "typ": identityType}, claims, func([]byte) []byte { return nil }), wantErr: ErrInvalidIdentity},
		{name: "unknown key", token: mustSignIdentity(t, newKeyRing(fixedKey("attacker")), sampleIdentity()), wantErr: ErrInvalidIdentity},
		{name: "our kid, attacker's key", token: rawToken(t, header, claims, edSigner(fixedKey("attacker"))), wantErr: ErrInvalidIdentity},
		{name: "tampered payload", token: parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(mustB64(t, parts[1])), "alice", "root", 1))) + "." + parts[2], wantErr: ErrInvalidIdentity},
		{name: "SPIFFE id of another agent", token: signed(claimsWith(claims, "sub", SPIFFEID("example.org", "admin", sampleSession))), wantErr: ErrInvalidIdentity},
		{name: "SPIFFE id of another session", token: signed(claimsWith(claims, "sub", SPIFFEID("example.org", "analytics-worker", NewSessionID()))), wantErr: ErrInvalidIdentity},
		{name: "missing sid", token: signed(claimsWithout(claims, "sid")), wantErr: ErrInvalidIdentity},
		{name: "missing sub", token: signed(claimsWithout(claims, "sub")), wantErr: ErrInvalidIdentity},
		{name: "missing agent", token: signed(claimsWithout(claims, "agent")), wantErr: ErrInvalidIdentity},
		{name: "missing principal", token: signed(claimsWithout(claims, "principal")), wantErr: ErrInvalidIdentity},
		{name: "missing exp", token: signed(claimsWithout(claims, "exp")), wantErr: ErrInvalidIdentity},
		{name: "missing iat", token: signed(claimsWithout(claims, "iat")), wantErr: ErrInvalidIdentity},
		{name: "bad trust domain", token: signed(claimsWith(claimsWith(claims, "trust_domain", "Example.org"), "sub", SPIFFEID("Example.org", "analytics-worker", sampleSession))), wantErr: ErrInvalidIdentity},
		{name: "garbage", token: "garbage", wantErr: ErrInvalidIdentity},
		{name: "valid", token: good},
		{name: "valid just before exp", token: good, now: sampleTime.Add(24*time.Hour - time.Nanosecond)},
		{name: "valid without client", token: signed(claimsWithout(claims, "client"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := tt.now
			if now.IsZero() {
				now = sampleTime.Add(time.Minute)
			}
			id, err := k.VerifyIdentity(tt.token, now)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("VerifyIdentity: %v", err)
				}
				if id.ID != sampleSession || id.SPIFFE != SPIFFEID("example.org", "analytics-worker", sampleSession) {
					t.Errorf("identity = %+v", id)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("VerifyIdentity: err = %v, want %v", err, tt.wantErr)
			}
			if id != nil {
				t.Errorf("VerifyIdentity returned an identity with error %v", err)
			}
			t.Logf("refused: %v", err)
		})
	}
}

func mustSignIdentity(t testing.TB, k *KeyRing, id SessionIdentity) string {
	t.Helper()
	tok, err := k.SignIdentity(id)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestIdentityRoundTrip(t *testing.T) {
	k := newKeyRing(fixedKey("keyhole"))
	tok := mustSignIdentity(t, k, sampleIdentity())
	got, err := k.VerifyIdentity(tok, sampleTime)
	if err != nil {
		t.Fatal(err)
	}
	want := sampleIdentity()
	want.SPIFFE = "spiffe://example.org/agent/analytics-worker/session/" + sampleSession
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("VerifyIdentity = %+v\nwant %+v", *got, want)
	}

	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Log(context.Background(), slog.LevelInfo, "session", "identity", got)
	if !strings.Contains(buf.String(), `"spiffe":"`+want.SPIFFE+`"`) {
		t.Errorf("log lacks the SPIFFE id: %s", buf.String())
	}
}

// TestIdentityEncodingPinned pins the signed bytes of a session identity.
func TestIdentityEncodingPinned(t *testing.T) {
	k := newKeyRing(fixedKey("keyhole"))
	tok := mustSignIdentity(t, k, sampleIdentity())
	parts := strings.Split(tok, ".")
	wantHeader := `{"alg":"EdDSA","kid":"` + k.KeyID() + `","typ":"keyhole-session+jwt"}`
	wantPayload := `{"sid":"0123456789abcdefghijklmnop","sub":"spiffe://example.org/agent/analytics-worker/session/0123456789abcdefghijklmnop",` +
		`"agent":"analytics-worker","trust_domain":"example.org",` +
		`"principal":{"kind":"os","subject":"alice","uid":1000,"parent_pid":4242,"parent_command":"claude --mcp-config keyhole.json"},` +
		`"client":{"name":"claude-code","version":"2.1.0"},"iat":1893553445,"exp":1893639845}`
	if got := string(mustB64(t, parts[0])); got != wantHeader {
		t.Errorf("header:\n got %s\nwant %s", got, wantHeader)
	}
	if got := string(mustB64(t, parts[1])); got != wantPayload {
		t.Errorf("payload:\n got %s\nwant %s", got, wantPayload)
	}
}

func TestSignIdentityRefuses(t *testing.T) {
	k := newKeyRing(fixedKey("keyhole"))
	for name, f := range map[string]func(*SessionIdentity){
		"no id":              func(id *SessionIdentity) { id.ID = "" },
		"no agent":           func(id *SessionIdentity) { id.Agent = "" },
		"no trust domain":    func(id *SessionIdentity) { id.TrustDomain = "" },
		"upper-case domain":  func(id *SessionIdentity) { id.TrustDomain = "Example.org" },
		"domain with a path": func(id *SessionIdentity) { id.TrustDomain = "example.org/x" },
		"domain with a port": func(id *SessionIdentity) { id.TrustDomain = "example.org:443" },
		"no principal":       func(id *SessionIdentity) { id.Principal = Principal{} },
		"no iat":             func(id *SessionIdentity) { id.IssuedAt = time.Time{} },
		"no exp":             func(id *SessionIdentity) { id.Expiry = time.Time{} },
		"exp at iat":         func(id *SessionIdentity) { id.Expiry = id.IssuedAt },
		"mismatched SPIFFE":  func(id *SessionIdentity) { id.SPIFFE = "spiffe://example.org/agent/admin/session/" + sampleSession },
		"SPIFFE of other td": func(id *SessionIdentity) { id.SPIFFE = SPIFFEID("evil.example", id.Agent, id.ID) },
	} {
		t.Run(name, func(t *testing.T) {
			id := sampleIdentity()
			f(&id)
			if tok, err := k.SignIdentity(id); err == nil {
				t.Fatalf("SignIdentity signed %+v: %s", id, Fingerprint(tok))
			}
		})
	}
}

func TestNewSessionID(t *testing.T) {
	valid := regexp.MustCompile(`^[0-9a-v]{26}$`)
	seen := map[string]bool{}
	for range 1000 {
		id := NewSessionID()
		if !valid.MatchString(id) {
			t.Fatalf("NewSessionID() = %q, want 26 base32hex characters", id)
		}
		if seen[id] {
			t.Fatalf("NewSessionID() repeated %q", id)
		}
		seen[id] = true
	}
}

func TestSPIFFEID(t *testing.T) {
	// A SPIFFE path segment: letters, digits, '.', '-', '_'; not empty, not
	// "." or "..".
	segment := regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
	tests := []struct {
		agent, want string
	}{
		{"..", "_2E_2E"},
		{".", "_2E"},
		{"", "_"},
		{"a/../../admin", "a_2F.._2F.._2Fadmin"},
		{"a b", "a_20b"},
		{"a_20b", "a_5F20b"}, // never the same as "a b"
		{"a%2Fb", "a_252Fb"},
		{"a?b#c", "a_3Fb_23c"},
		{"agent_1", "agent_5F1"},
		{"ägent", "_C3_A4gent"},
		{"analytics-worker", "analytics-worker"},
		{"Analytics.Worker-2", "Analytics.Worker-2"},
		{"...x", "...x"},
	}
	for _, tt := range tests {
		got := SPIFFEID("example.org", tt.agent, "s1")
		want := "spiffe://example.org/agent/" + tt.want + "/session/s1"
		if got != want {
			t.Errorf("SPIFFEID(%q) = %s, want %s", tt.agent, got, want)
		}
		if seg := escapeSegment(tt.agent); !segment.MatchString(seg) || seg == "." || seg == ".." {
			t.Errorf("escapeSegment(%q) = %q: not a SPIFFE path segment", tt.agent, seg)
		}
	}
}

func TestValidateTrustDomain(t *testing.T) {
	for _, td := range []string{"", "Example.org", "example.org/", "example.org:80", "exa mple", "spiffe://example.org", strings.Repeat("a", 256)} {
		if ValidateTrustDomain(td) == nil {
			t.Errorf("ValidateTrustDomain(%q) accepted it", td)
		}
	}
	for _, td := range []string{"example.org", "prod_1.example-corp.com", "localhost"} {
		if err := ValidateTrustDomain(td); err != nil {
			t.Errorf("ValidateTrustDomain(%q): %v", td, err)
		}
	}
}
