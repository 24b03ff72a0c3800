package pgroles

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/keyholehq/keyhole/config"
	"github.com/keyholehq/keyhole/grants"
)

// loginRole creates a throwaway login role (cluster-wide) for one test.
func loginRole(t *testing.T, setup string) (name, dsn string) {
	t.Helper()
	name = "khcheck_" + randHex(4)
	conn := admin(t)
	ctx := context.Background()
	if _, err := conn.Exec(ctx, fmt.Sprintf("CREATE ROLE %s LOGIN; "+setup, name)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = conn.Exec(context.Background(), fmt.Sprintf("DROP OWNED BY %[1]s; DROP ROLE %[1]s", name))
	})
	u, _ := url.Parse(testDB.DSN)
	u.User = url.User(name)
	return name, u.String()
}

func check(t *testing.T, res *config.Resource, write ...grants.Table) (errs, warns []string) {
	t.Helper()
	fs, err := Check(context.Background(), res, write)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		if f.Warning {
			warns = append(warns, f.Message)
		} else {
			errs = append(errs, f.Message)
		}
	}
	return errs, warns
}

func mentions(list []string, parts ...string) bool {
	for _, s := range list {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(s, p)
		}
		if all {
			return true
		}
	}
	return false
}

var notes = grants.Table{Schema: "public", Name: "notes"}

func TestCheckAcceptsTheDocumentedSetup(t *testing.T) {
	errs, warns := check(t, resource(t, keeperDSN), notes)
	if len(errs) > 0 {
		t.Errorf("errors for a correctly set up role: %q", errs)
	}
	if mentions(warns, "superuser") {
		t.Errorf("warnings: %q", warns)
	}
}

func TestCheckWarnsAboutSuperuser(t *testing.T) {
	errs, warns := check(t, resource(t, testDB.DSN))
	if len(errs) > 0 || !mentions(warns, "superuser", "CREATEROLE") {
		t.Errorf("errors %q, warnings %q: want a superuser warning", errs, warns)
	}
}

func TestCheckNamesWhatIsMissing(t *testing.T) {
	_, dsn := loginRole(t, "")
	res := resource(t, dsn)
	res.Tables = append(res.Tables, grants.TableScope{Table: grants.Table{Schema: "public", Name: "nope"}})
	errs, _ := check(t, res, notes)
	for _, want := range [][]string{
		{"CREATEROLE"},
		{"USAGE on schema public"},
		{"SELECT on public.orders"},
		{"SELECT on public.customers(id, name, region, created_at)"},
		{"SELECT, INSERT, UPDATE, DELETE on public.notes"},
		{"USAGE on sequence public.notes_id_seq"},
		{"public.nope does not exist"},
	} {
		if !mentions(errs, want...) {
			t.Errorf("no error mentions %q in:\n%s", want, strings.Join(errs, "\n"))
		}
	}
}

func TestCheckWarnsAboutPublicPrivileges(t *testing.T) {
	schema := "leaky_" + randHex(3)
	conn := admin(t)
	ctx := context.Background()
	_, err := conn.Exec(ctx, fmt.Sprintf(`
		CREATE SCHEMA %[1]s;
		GRANT USAGE, CREATE ON SCHEMA %[1]s TO PUBLIC;
		CREATE VIEW %[1]s.all_cards AS SELECT * FROM public.payment_secrets;
		GRANT SELECT ON %[1]s.all_cards TO PUBLIC;
		CREATE TABLE %[1]s.half (a int, b int);
		GRANT SELECT (b) ON %[1]s.half TO PUBLIC;
		CREATE FUNCTION %[1]s.card() RETURNS text LANGUAGE sql SECURITY DEFINER AS 'SELECT card_number FROM public.payment_secrets LIMIT 1';
		CREATE FUNCTION %[1]s.harmless() RETURNS int LANGUAGE sql AS 'SELECT 1';
		CREATE FUNCTION %[1]s.private() RETURNS int LANGUAGE sql AS 'SELECT 1';
		REVOKE EXECUTE ON FUNCTION %[1]s.private() FROM PUBLIC;`, schema))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE") })
	res := resource(t, keeperDSN)
	res.SearchPath = []string{"public", schema}
	_, warns := check(t, res)
	for _, want := range [][]string{
		{"CREATE in schema " + schema},
		{schema + ".all_cards (view: SELECT)"},
		{schema + ".half.b"},
		{schema + ".card()", "SECURITY DEFINER"},
		{schema + ".harmless()", "caller's privileges"},
	} {
		if !mentions(warns, want...) {
			t.Errorf("no warning mentions %q in:\n%s", want, strings.Join(warns, "\n"))
		}
	}
	if mentions(warns, schema+".private()") {
		t.Errorf("a function PUBLIC may not execute was reported:\n%s", strings.Join(warns, "\n"))
	}
}

func TestCheckSetRole(t *testing.T) {
	reader, _ := loginRole(t, "GRANT SELECT, INSERT ON public.orders TO %[1]s")
	// keyhole's role is not a member of the reader role yet.
	_, dsn := loginRole(t, "")
	res := resource(t, dsn)
	res.Enforcement = config.SetRole
	res.Roles = map[grants.Privilege]string{grants.Read: reader, grants.Write: "no_such_role_" + randHex(3)}
	errs, warns := check(t, res)
	if !mentions(errs, "may not SET ROLE "+reader) || !mentions(errs, "does not exist") {
		t.Errorf("errors: %q", errs)
	}
	if !mentions(warns, "read role "+reader+" may write to public.orders") || !mentions(warns, "RESET ROLE") {
		t.Errorf("warnings: %q", warns)
	}
}
