package grants_test

import (
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/keyholehq/keyhole/grants"
)

// Issue a grant bound to one session, verify it in that session, and see it
// refused in any other.
func Example() {
	dataDir, err := os.MkdirTemp("", "keyhole-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dataDir)

	keys, err := grants.LoadOrCreateKeys(dataDir) // signing.key is created on first run
	if err != nil {
		log.Fatal(err)
	}

	session := grants.NewSessionID()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	orders, err := grants.ParseTableScope("public.orders")
	if err != nil {
		log.Fatal(err)
	}
	token, err := keys.SignGrant(grants.GrantClaims{
		ID:         "g_7",
		Issuer:     "spiffe://example.org/keyhole",
		Subject:    grants.SPIFFEID("example.org", "analytics-worker", session),
		Audience:   "analytics",
		Scope:      grants.Scope{Privilege: grants.Read, Tables: []grants.TableScope{orders}},
		IssuedAt:   now,
		NotBefore:  now,
		Expiry:     now.Add(15 * time.Minute),
		SessionID:  session,
		Agent:      "analytics-worker",
		ApprovedBy: "policy",
	})
	if err != nil {
		log.Fatal(err)
	}

	opts := grants.VerifyOptions{
		Audience:  "analytics",
		SessionID: session,
		Issuer:    "spiffe://example.org/keyhole",
		Now:       now.Add(time.Minute),
	}
	g, err := keys.VerifyGrant(token, opts)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(g.ID(), g.Scope().Privilege, g.Scope().Tables[0], "until", g.Expiry().Format(time.RFC3339))

	opts.SessionID = grants.NewSessionID() // the same token, presented by another session
	_, err = keys.VerifyGrant(token, opts)
	fmt.Println(errors.Is(err, grants.ErrNotYours))

	opts.SessionID, opts.Now = session, now.Add(15*time.Minute)
	_, err = keys.VerifyGrant(token, opts)
	fmt.Println(errors.Is(err, grants.ErrExpired))
	// Output:
	// g_7 read public.orders until 2030-01-02T03:19:05Z
	// true
	// true
}
