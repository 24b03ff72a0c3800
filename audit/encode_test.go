package audit

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"testing"
)

// goldenLine is the trail line of goldenEvent after a record whose hash is
// 32 bytes of 0xab. A change here changes every hash ever written: it must
// never happen to an existing field (new fields go at the end of a group,
// and appear only when set).
const goldenLine = `{"seq":42,"time":"2025-03-14T15:09:26.535897Z","event":"query.completed","session":"spiffe://keyhole.local/agent/reporting/session/7f3a9c2e51d04b7a","agent":"reporting","principal":{"kind":"os","subject":"uid:1000","issuer":"local","uid":1000,"parent_pid":4242,"parent_command":"claude"},"client":{"name":"claude-code","version":"1.0.3"},"identity":"eyJhbGciOiJFZERTQSJ9.e30.c2ln","tool":"query","resource":"analytics","grant":"g_01HQ3Z","request":"r_01HQ3Y","privilege":"read","tables":["public.orders","public.customers"],"duration":"15m0s","expires_at":"2025-03-14T16:09:26Z","justification":"weekly revenue <report> & churn","purpose":"answer the user's question","meta":{"traceparent":"00-abc-def-01"},"actor":"admin@example.com","decision":"allow","query":{"sql":"SELECT id, total FROM orders WHERE total > $1","params":[100,"é",null,1.5],"fingerprint":"a1b2c3d4e5f60718","kind":"select","reads":["public.orders"],"columns":["id","total"],"functions":["now"]},"result":{"rows":3,"columns":["id","total"],"truncated":true,"elapsed_ms":1.25,"digest":"00ff","data":[[1,2]],"data_cut":true},"prev":"abababababababababababababababababababababababababababababababab","hash":"6cc0d25b2a87f771e4c9d4aceb2b53300c0d376ec9d837eb97dade7f2fbc3eb4"}` + "\n"

func TestCanonicalEncoding(t *testing.T) {
	var buf bytes.Buffer
	if err := encodeRecord(&buf, goldenEvent()); err != nil {
		t.Fatal(err)
	}
	sum := sealLine(&buf, bytes.Repeat([]byte{0xab}, 32))
	if got := buf.String(); got != goldenLine {
		t.Errorf("canonical encoding changed:\n got %s\nwant %s", got, goldenLine)
	}
	const wantHash = "6cc0d25b2a87f771e4c9d4aceb2b53300c0d376ec9d837eb97dade7f2fbc3eb4"
	if got := hexString(sum[:]); got != wantHash {
		t.Errorf("hash = %s, want %s", got, wantHash)
	}
}

// A record read back and encoded again gives the same bytes: readers and
// the writer agree on what was signed.
func TestCanonicalRoundTrip(t *testing.T) {
	line := []byte(goldenLine[:len(goldenLine)-1])
	var e Event
	if err := json.Unmarshal(line, &e); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := encodeRecord(&buf, &e); err != nil {
		t.Fatal(err)
	}
	sealLine(&buf, bytes.Repeat([]byte{0xab}, 32))
	if got := buf.String(); got != goldenLine {
		t.Errorf("round trip changed the record:\n got %s\nwant %s", got, goldenLine)
	}
}

func TestLineHash(t *testing.T) {
	line := []byte(goldenLine[:len(goldenLine)-1])
	claimed, actual, err := lineHash(line, bytes.Repeat([]byte{0xab}, 32))
	if err != nil || claimed != actual {
		t.Fatalf("golden line does not verify: %v", err)
	}
	for _, bad := range []string{
		`{"seq":1,"prev":"","hash":"` + "ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB" + `"}`, // upper case
		`{"seq":1,"prev":"","hash":""}`,
		`not json at all, but long enough to hold a hash suffix of sixty-four hex digits ........`,
	} {
		if _, _, err := lineHash([]byte(bad), nil); err == nil {
			t.Errorf("lineHash(%s) accepted it", bad)
		}
	}
}

func TestCheckpointSignature(t *testing.T) {
	key := goldenKey()
	kid := Thumbprint(key.Public().(ed25519.PublicKey))
	const head = "abababababababababababababababababababababababababababababababab"
	msg := checkpointMessage(41, head, goldenTime, kid)
	wantMsg := "keyhole.audit.checkpoint.v1\n" +
		`{"seq":41,"head":"` + head + `","time":"2025-03-14T15:09:26.535897Z","kid":"WWpn_pfHui9YKR4CZtQsDGMu7_Gch2zYChfSvnxgtPk"}`
	if string(msg) != wantMsg {
		t.Errorf("checkpoint message:\n got %q\nwant %q", msg, wantMsg)
	}
	c := &Checkpoint{Seq: 41, Head: head, KeyID: kid}
	signCheckpoint(c, goldenTime, key)
	const wantSig = "plYaW7frpxvDaD7rsv2DY7qotRTzBBnzxlYCCnsgiOgZL_u9fg61p7rLhrR0faYcV2_NICICvJQLL6TD6jo9BQ"
	if c.Signature != wantSig {
		t.Errorf("signature = %s, want %s", c.Signature, wantSig)
	}
	pub := key.Public().(ed25519.PublicKey)
	if !verifyCheckpoint(c, goldenTime, pub) {
		t.Fatal("signature does not verify")
	}
	for name, mod := range map[string]func(c *Checkpoint){
		"seq":  func(c *Checkpoint) { c.Seq++ },
		"head": func(c *Checkpoint) { c.Head = "cd" + c.Head[2:] },
		"kid":  func(c *Checkpoint) { c.KeyID = "other" },
		"sig":  func(c *Checkpoint) { c.Signature = base64.RawURLEncoding.EncodeToString(make([]byte, 64)) },
		"junk": func(c *Checkpoint) { c.Signature = "!!" },
	} {
		d := *c
		mod(&d)
		if verifyCheckpoint(&d, goldenTime, pub) {
			t.Errorf("%s changed, signature still verifies", name)
		}
	}
	if verifyCheckpoint(c, goldenTime.Add(1), pub) {
		t.Error("time changed, signature still verifies")
	}
}

// RFC 8037 appendix A.3 gives the thumbprint of its example key.
func TestThumbprintRFC8037(t *testing.T) {
	x, _ := base64.RawURLEncoding.DecodeString("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
	if got, want := Thumbprint(x), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"; got != want {
		t.Errorf("Thumbprint = %s, want %s", got, want)
	}
}

func TestParseJWKS(t *testing.T) {
	jwks := `{"keys":[
		{"kty":"RSA","n":"x","e":"AQAB","kid":"rsa"},
		{"kty":"OKP","crv":"X25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
		{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k","use":"sig"}]}`
	keys, err := ParseJWKS([]byte(jwks))
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys["kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"] == nil {
		t.Errorf("keys = %v", keys)
	}
	for _, bad := range []string{
		`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"c2hvcnQ"}]}`,
		`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"not base64!"}]}`,
		`{"keys":`,
	} {
		if _, err := ParseJWKS([]byte(bad)); err == nil {
			t.Errorf("ParseJWKS(%s) accepted it", bad)
		}
	}
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}
