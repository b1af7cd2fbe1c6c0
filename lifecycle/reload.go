package lifecycle

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/cobaltgw/cobaltgw/config"
)

// reloadFile is a SIGHUP: it always reloads, even when the file is
// unchanged, since what it refers to (body_schema files, TLS files) may
// have changed.
func (p *process) reloadFile(trigger string) {
	st, err := os.Stat(p.path)
	var data []byte
	if err == nil {
		data, err = os.ReadFile(p.path)
	}
	if err != nil {
		p.refused(trigger, fmt.Errorf("reading config: %w", err))
		return
	}
	p.watch.saw(st, data)
	p.reload(trigger, data)
}

// reload decodes data, and the gateway compiles it (reporting config's
// errors and every part's at once) and, if it is good, swaps it in.
func (p *process) reload(trigger string, data []byte) {
	next, err := config.Decode(data, p.path)
	if err != nil {
		p.refused(trigger, err)
		return
	}
	prev := p.gw.Config()
	start := time.Now()
	if err := p.gw.Reload(next); err != nil {
		p.refused(trigger, err)
		return
	}
	// The lines below are already in the new format, at the new level.
	applyLog(p.log, next)
	p.log.Debug("reload prepared and committed", "trigger", trigger, "duration_ms", float64(time.Since(start))/float64(time.Millisecond))
	for _, w := range next.Warnings {
		p.log.Warn("config", "warning", w)
	}
	if keys := restartOnly(prev, next); len(keys) > 0 {
		p.log.Warn("reload: "+strings.Join(keys, ", ")+" changed but take effect only at the next start; the running values stay", "settings", keys)
	}
	if p.m != nil {
		p.m.ConfigReloaded(true, time.Now())
	}
	p.log.Info("config reloaded", "trigger", trigger, "config", p.path)
}

// refused reports a reload that left the running config in place. A
// config error reads "file:line:col: what to write instead", one per line.
func (p *process) refused(trigger string, err error) {
	if p.m != nil {
		p.m.ConfigReloaded(false, time.Now())
	}
	p.log.Error("reload refused; the running config keeps serving", "trigger", trigger, "error", err.Error())
}

// restartOnly lists the settings that differ between prev and next but
// are read only when the process starts (docs/configuration.md, "Reload"):
// the listeners' addresses (the sockets are open) and the store's
// backend, addresses and memory budget (the store and its bounded caches
// are built once). The running values stay; every other key takes effect.
func restartOnly(prev, next *config.Config) []string {
	var keys []string
	check := func(key string, changed bool) {
		if changed {
			keys = append(keys, key)
		}
	}
	check("server.listen", prev.Server.Listen != next.Server.Listen)
	check("admin.listen", prev.Admin.Listen != next.Admin.Listen)
	check("store.backend", prev.Store.Backend != next.Store.Backend)
	check("store.redis_addrs", prev.Store.Backend == config.BackendRedis && !slices.Equal(prev.Store.RedisAddrs, next.Store.RedisAddrs))
	check("store.memory_budget", prev.Store.MemoryBudget != next.Store.MemoryBudget)
	return keys
}
