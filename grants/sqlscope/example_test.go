package sqlscope_test

import (
	"fmt"

	"github.com/keyholehq/keyhole/grants"
	"github.com/keyholehq/keyhole/grants/sqlscope"
)

func Example() {
	a := sqlscope.NewAnalyzer(sqlscope.Options{SearchPath: []string{"public"}})
	scope := grants.Scope{
		Privilege: grants.Read,
		Tables: []grants.TableScope{
			{Table: grants.Table{Schema: "public", Name: "orders"}},
			{Table: grants.Table{Schema: "public", Name: "customers"}, Columns: []string{"id", "name", "region"}},
		},
	}

	an, err := a.Check(`SELECT c.region, sum(o.total) FROM orders o JOIN customers c ON c.id = o.customer_id GROUP BY 1`, scope)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(an.Kind, an.Reads, an.Functions)

	for _, sql := range []string{
		"SELECT ssn FROM customers",
		"WITH d AS (DELETE FROM orders RETURNING *) SELECT * FROM d",
		"SELECT pg_read_file('/etc/passwd')",
		"SELECT 1; COMMIT",
	} {
		_, err := a.Check(sql, scope)
		if d, ok := grants.AsDenial(err); ok {
			fmt.Println(d.Code)
		}
	}
	// Output:
	// select [public.customers public.orders] [pg_catalog.sum]
	// OUT_OF_SCOPE
	// WRITE_NOT_GRANTED
	// FORBIDDEN_FUNCTION
	// MULTIPLE_STATEMENTS
}
