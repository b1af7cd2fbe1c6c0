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
	if err := p.gw.Reload(next); err != nil {
		p.refused(trigger, err)
		return
	}
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
// the listeners' addresses, the store's backend, addresses and memory
// budget, and what fasthttp fixes per listener (its timeouts and sizes),
// whether the listener speaks TLS at all, the log format and level, and
// [tracing] (the exporter is built once). The running
// values stay; everything else, TLS files and redis_timeout included,
// takes effect.
func restartOnly(prev, next *config.Config) []string {
	var keys []string
	check := func(key string, changed bool) {
		if changed {
			keys = append(keys, key)
		}
	}
	a, b := &prev.Server, &next.Server
	check("server.listen", a.Listen != b.Listen)
	check("server.read_timeout", a.ReadTimeout != b.ReadTimeout)
	check("server.write_timeout", a.WriteTimeout != b.WriteTimeout)
	check("server.idle_timeout", a.IdleTimeout != b.IdleTimeout)
	check("server.max_header_bytes", a.MaxHeaderBytes != b.MaxHeaderBytes)
	check("server.tls_cert (TLS on or off)", (a.TLSCert == "") != (b.TLSCert == ""))
	check("admin.listen", prev.Admin.Listen != next.Admin.Listen)
	check("log.format", prev.Log.Format != next.Log.Format)
	check("log.level", prev.Log.Level != next.Log.Level)
	check("tracing", prev.Tracing != next.Tracing)
	check("store.backend", prev.Store.Backend != next.Store.Backend)
	check("store.redis_addrs", prev.Store.Backend == config.BackendRedis && !slices.Equal(prev.Store.RedisAddrs, next.Store.RedisAddrs))
	check("store.memory_budget", prev.Store.MemoryBudget != next.Store.MemoryBudget)
	return keys
}
