package lifecycle

import (
	"slices"

	"github.com/cobaltgw/cobaltgw/metrics"
	"github.com/cobaltgw/cobaltgw/proxy"
)

// sources feeds the scrape-time metrics from the gateway. Everything here
// runs per scrape, never per request.
func sources(gw *proxy.Gateway) metrics.Sources {
	s := metrics.Sources{
		Inflight: gw.Inflight,
		Idempotency: func() metrics.IdempotencyStats {
			st := gw.IdempotencyStats()
			return metrics.IdempotencyStats{
				Claims: st.Claims, InFlight: st.InFlight, Completed: st.Completed, Replayable: st.Replayable,
				Mismatches: st.Mismatches, StoreFull: st.StoreFull, Releases: st.Releases, Abandons: st.Abandons,
				LeasesLost: st.LeasesLost, LateCompletions: st.LateCompletions,
				ResponsesDropped: st.ResponsesDropped, Expired: st.Expired, Entries: st.Entries, Bytes: st.Bytes,
			}
		},
		Upstreams: func() []metrics.UpstreamStats {
			pools := gw.Upstreams()
			names := make([]string, 0, len(pools))
			for n := range pools {
				names = append(names, n)
			}
			slices.Sort(names)
			out := make([]metrics.UpstreamStats, 0, len(names))
			for _, n := range names {
				st := pools[n].Stats()
				u := metrics.UpstreamStats{Name: n, RetriesOK: st.RetriesOK, RetriesFailed: st.RetriesFailed, RetriesBudgetDenied: st.RetriesBudgetDenied,
					Panic: st.Panic, PanicRequests: st.PanicRequests, StaleConns: st.StaleConns}
				for _, t := range st.Targets {
					u.Targets = append(u.Targets, metrics.TargetStats{URL: t.URL, State: string(t.State), InFlight: t.InFlight, Ejections: t.Ejections})
				}
				out = append(out, u)
			}
			return out
		},
	}
	s.Streams = func() metrics.StreamStats {
		st := gw.StreamStats()
		return metrics.StreamStats{Aborted: st.Aborted, Tunnels: st.Tunnels}
	}
	s.Limiter = func() metrics.LimiterStats {
		st := gw.LimiterStats()
		return metrics.LimiterStats{
			Created: st.Created, Recovered: st.Recovered, Dropped: st.Dropped, Rejected: st.Rejected,
			Evicted: st.Evicted, Adopted: st.Adopted, CostUsed: st.CostUsed, CostMax: st.CostMax,
			RedisCalls: st.RedisCalls, RedisErrors: st.RedisErrors, Fallbacks: st.Fallbacks, NearLimit: st.NearLimit,
		}
	}
	return s
}
