package limiter

// Refusing returns the first policy, in route order, that refused the
// request, or nil when none did: the policy a 429 is counted against in
// metrics.
func (d *Decision) Refusing() *Policy {
	if !d.refused || d.route == nil {
		return nil
	}
	for i := range d.res {
		if d.checked&(1<<i) != 0 && d.res[i].refused {
			return d.route.policies[i]
		}
	}
	return nil
}
