package config

// Typed enums: each string option of the file is its own type whose EnumValues
// are the allowed spellings. The decoder refuses any other value (see
// Enum), so code that reads a Config can switch on the constants without a
// default case for typos. A new option only needs a type here with an
// EnumValues method.

// TLSClientAuth is [server] tls_client_auth.
type TLSClientAuth string

// The values of tls_client_auth.
const (
	ClientAuthOff      TLSClientAuth = "off"
	ClientAuthOptional TLSClientAuth = "optional"
	ClientAuthRequired TLSClientAuth = "required"
)

// EnumValues lists the allowed spellings.
func (TLSClientAuth) EnumValues() []string { return []string{"off", "optional", "required"} }

// LogFormat is [log] format.
type LogFormat string

// The values of log.format.
const (
	LogJSON LogFormat = "json"
	LogText LogFormat = "text"
)

// EnumValues lists the allowed spellings.
func (LogFormat) EnumValues() []string { return []string{"json", "text"} }

// Backend is [store] backend.
type Backend string

// The values of store.backend.
const (
	BackendMemory Backend = "memory"
	BackendRedis  Backend = "redis"
)

// EnumValues lists the allowed spellings.
func (Backend) EnumValues() []string { return []string{"memory", "redis"} }

// OnStoreError is [store] rate_limit_on_store_error.
type OnStoreError string

// The values of rate_limit_on_store_error.
const (
	OnStoreErrorLocal OnStoreError = "local"
	OnStoreErrorAllow OnStoreError = "allow"
	OnStoreErrorDeny  OnStoreError = "deny"
)

// EnumValues lists the allowed spellings.
func (OnStoreError) EnumValues() []string { return []string{"local", "allow", "deny"} }

// OnReuse is [idempotency] on_reuse.
type OnReuse string

// The values of on_reuse.
const (
	OnReuseConflict OnReuse = "conflict"
	OnReuseReplay   OnReuse = "replay"
)

// EnumValues lists the allowed spellings.
func (OnReuse) EnumValues() []string { return []string{"conflict", "replay"} }

// Balance is [[upstreams]] balance.
type Balance string

// The values of balance.
const (
	BalanceRoundRobin Balance = "round_robin"
	BalanceLeastConn  Balance = "least_conn"
)

// EnumValues lists the allowed spellings.
func (Balance) EnumValues() []string { return []string{"round_robin", "least_conn"} }
