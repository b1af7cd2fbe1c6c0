package idempotency

import (
	"errors"

	"github.com/cobaltgw/cobaltgw/config"
)

// Build turns [idempotency] into the store's Config, with memoryBudget
// bytes for the memory store (its share of store.memory_budget; the Redis
// store ignores it). It returns every error, each a *config.FieldError on
// the key at fault ("idempotency.max_keys_per_client").
func Build(sec config.Idempotency, memoryBudget int64) (Config, error) {
	c := Config{
		TTL:               sec.TTL.D(),
		LockTimeout:       sec.LockTimeout.D(),
		MaxStoredResponse: int(sec.MaxStoredResponse),
		OnReuse:           ModeConflict,
		MemoryBudget:      memoryBudget,
		MaxKeysPerClient:  sec.MaxKeysPerClient,
	}
	if sec.OnReuse == config.OnReuseReplay {
		c.OnReuse = ModeReplay
	}
	var errs []error
	if c.TTL <= 0 {
		errs = append(errs, config.FieldErrorf("idempotency.ttl", "must be a positive duration such as \"24h\""))
	}
	if c.LockTimeout <= 0 {
		errs = append(errs, config.FieldErrorf("idempotency.lock_timeout", "must be a positive duration such as \"60s\""))
	}
	if c.MaxStoredResponse < 0 {
		errs = append(errs, config.FieldErrorf("idempotency.max_stored_response", "must not be negative"))
	}
	if c.MaxKeysPerClient < 0 {
		errs = append(errs, config.FieldErrorf("idempotency.max_keys_per_client", "must not be negative (0 = no limit)"))
	}
	if c.MemoryBudget <= 0 {
		errs = append(errs, config.FieldErrorf("store.memory_budget", "leaves no memory for idempotency records; raise it"))
	}
	return c, errors.Join(errs...)
}
