package sqlscope

import (
	"strings"
	"testing"
)

const typicalQuery = `SELECT c.region, date_trunc('month', o.created_at) AS month, count(*) AS orders, sum(o.total) AS revenue
FROM public.orders o JOIN public.customers c ON c.id = o.customer_id
WHERE o.created_at >= now() - interval '90 days' AND o.status <> 'cancelled'
GROUP BY 1, 2 ORDER BY 2, 3 DESC LIMIT 100`

// query2KB is a realistic report of about 2 KB.
var query2KB = func() string {
	q := `WITH monthly AS (
  SELECT date_trunc('month', o.created_at) AS month, c.region, count(*) AS n_orders,
         sum(o.total) AS revenue, avg(o.total) AS avg_order,
         count(DISTINCT o.customer_id) AS buyers,
         count(*) FILTER (WHERE o.status = 'cancelled') AS cancelled
  FROM public.orders o
  JOIN public.customers c ON c.id = o.customer_id
  WHERE o.created_at >= now() - interval '2 years'
  GROUP BY 1, 2
), items AS (
  SELECT date_trunc('month', o.created_at) AS month, p.category, sum(i.qty) AS units,
         sum(i.qty * i.price) AS item_revenue
  FROM public.order_items i
  JOIN public.orders o ON o.id = i.order_id
  JOIN public.products p ON p.id = i.product_id
  WHERE o.status <> 'cancelled'
  GROUP BY 1, 2
), ranked AS (
  SELECT m.month, m.region, m.revenue, m.n_orders, m.buyers, m.cancelled,
         rank() OVER (PARTITION BY m.month ORDER BY m.revenue DESC) AS region_rank,
         m.revenue - lag(m.revenue) OVER (PARTITION BY m.region ORDER BY m.month) AS growth,
         round(100.0 * m.cancelled / nullif(m.n_orders, 0), 1) AS cancel_pct
  FROM monthly m
)
SELECT r.month, r.region, r.revenue, r.n_orders, r.buyers, r.region_rank, r.growth, r.cancel_pct,
       (SELECT jsonb_object_agg(i.category, i.units ORDER BY i.category) FROM items i WHERE i.month = r.month) AS units_by_category,
       CASE WHEN r.growth > 0 THEN 'up' WHEN r.growth < 0 THEN 'down' ELSE 'flat' END AS trend,
       coalesce((SELECT sum(i.item_revenue) FROM items i WHERE i.month = r.month), 0) AS item_revenue
FROM ranked r
WHERE r.region_rank <= 3 AND r.month >= date_trunc('month', now()) - interval '12 months'
ORDER BY r.month DESC, r.region_rank`
	return q + strings.Repeat(" ", max(0, 2048-len(q)))
}()

// BenchmarkCheckTypical measures an uncached analysis of a typical analyst
// query: text checks, parse, walk and fingerprint.
func BenchmarkCheckTypical(b *testing.B) {
	a := NewAnalyzer(Options{})
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, d := a.analyze(typicalQuery, readScope); d != nil {
			b.Fatal(d)
		}
	}
}

// BenchmarkCheckCached measures a repeated statement: one cache lookup.
func BenchmarkCheckCached(b *testing.B) {
	a := NewAnalyzer(Options{})
	if _, err := a.Check(typicalQuery, readScope); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := a.Check(typicalQuery, readScope); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheck2KB measures an uncached analysis of a 2 KB report.
func BenchmarkCheck2KB(b *testing.B) {
	a := NewAnalyzer(Options{})
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, d := a.analyze(query2KB, readScope); d != nil {
			b.Fatal(d)
		}
	}
}
