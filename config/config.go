// Package config holds the gateway's configuration as data: the schema
// of docs/configuration.md as Go types, its defaults, strict decoding of
// the TOML file (unknown keys and wrong types refused, in TOML words),
// ${NAME} and ${NAME:-default} expansion, typed enums, and the checks that
// need nothing but the file (required keys, ranges, host:port, references
// between sections). Every error names the place in the file as
// file:line:col and says what to write instead; one run reports them all.
//
// config imports no policy package (README.md "Architecture"): each part
// (limiter, auth, tlsconf, upstream, idempotency, tracing, router, schema,
// openapi) builds its runtime object from its own section with a Build
// function and tags its errors with the key (FieldError); the gateway's
// compile step (proxy.Compile) calls them all and places those errors in
// the file through the index kept here (Config.Report).
//
// A *Config is never modified after decoding: a reload decodes a new one,
// the proxy compiles it and swaps the result in atomically.
package config

import "time"

// Config is the whole file.
type Config struct {
	Server      Server               `toml:"server"`
	Admin       Admin                `toml:"admin"`
	Log         Log                  `toml:"log"`
	Tracing     Tracing              `toml:"tracing"`
	Errors      Errors               `toml:"errors"`
	Store       Store                `toml:"store"`
	Auth        Auth                 `toml:"auth"`
	RateLimits  map[string]RateLimit `toml:"rate_limits"`
	Idempotency Idempotency          `toml:"idempotency"`
	Upstreams   []Upstream           `toml:"upstreams"`
	Routes      []Route              `toml:"routes"`
	OpenAPI     []OpenAPI            `toml:"openapi"`

	// Path is the file the config was loaded from; Dir its folder, against
	// which relative paths (body_schema) resolve.
	Path string `toml:"-"`
	Dir  string `toml:"-"`
	// Warnings are non-fatal findings (logged at every load).
	Warnings []string `toml:"-"`

	ix *index // where each key is written, for errors found after loading
	// problems are config's own errors (Decode keeps them for Errors);
	// flagged are their key paths.
	problems []*Error
	flagged  map[string]bool
}

// Server is [server].
type Server struct {
	Listen                string        `toml:"listen"`
	ReadTimeout           Duration      `toml:"read_timeout"`
	WriteTimeout          Duration      `toml:"write_timeout"`
	IdleTimeout           Duration      `toml:"idle_timeout"`
	MaxHeaderBytes        Size          `toml:"max_header_bytes"`
	MaxBodyBytes          Size          `toml:"max_body_bytes"`
	MaxConcurrent         int           `toml:"max_concurrent"`
	MaxConns              int           `toml:"max_conns"`
	MaxConnsPerIP         int           `toml:"max_conns_per_ip"`
	TrustedProxiesRaw     []string      `toml:"trusted_proxies"`
	Maintenance           bool          `toml:"maintenance"`
	MaintenanceRetryAfter Duration      `toml:"maintenance_retry_after"`
	ShutdownGrace         Duration      `toml:"shutdown_grace"`
	Watch                 bool          `toml:"watch"`
	TLSCert               string        `toml:"tls_cert"`
	TLSKey                string        `toml:"tls_key"`
	TLSClientCA           string        `toml:"tls_client_ca"`
	TLSClientAuth         TLSClientAuth `toml:"tls_client_auth"`
}

// Admin is [admin].
type Admin struct {
	Listen string `toml:"listen"`
}

// Log is [log].
type Log struct {
	Format LogFormat `toml:"format"`
	Level  LogLevel  `toml:"level"`
	Access bool      `toml:"access"`
}

// Tracing is [tracing] (checked by package tracing: tracing.FromConfig).
type Tracing struct {
	Endpoint    string  `toml:"endpoint"`
	SampleRatio float64 `toml:"sample_ratio"`
	ServiceName string  `toml:"service_name"`
}

// Errors is [errors].
type Errors struct {
	KeepUpstreamJSON bool           `toml:"keep_upstream_json"`
	TypeBase         string         `toml:"type_base"`
	Map              map[string]int `toml:"map"`
	// Details overrides the detail sentence of a reason code.
	Details map[string]string `toml:"details"`
}

// Store is [store].
type Store struct {
	Backend               Backend      `toml:"backend"`
	MemoryBudget          Size         `toml:"memory_budget"`
	RedisAddrs            []string     `toml:"redis_addrs"`
	RedisPassword         string       `toml:"redis_password"`
	RedisTimeout          Duration     `toml:"redis_timeout"`
	RateLimitOnStoreError OnStoreError `toml:"rate_limit_on_store_error"`
}

// Auth is [auth].
type Auth struct {
	Realm  string  `toml:"realm"`
	Tokens []Token `toml:"tokens"`
	JWT    []JWT   `toml:"jwt"`
}

// JWT is one [[auth.jwt]] issuer of JWT access tokens. It is data only:
// package auth checks it (auth.Build) and builds the verifier.
type JWT struct {
	Issuer       string   `toml:"issuer"`
	JWKSURL      string   `toml:"jwks_url"`
	JWKSFile     string   `toml:"jwks_file"`
	Audiences    []string `toml:"audiences"`
	Algorithms   []string `toml:"algorithms"`
	Leeway       Duration `toml:"leeway"`
	ScopeClaim   string   `toml:"scope_claim"`
	SubjectClaim string   `toml:"subject_claim"`
	OrgClaim     string   `toml:"org_claim"`
	JWKSRefresh  Duration `toml:"jwks_refresh"`
}

// Token is one [[auth.tokens]] entry.
type Token struct {
	ID     string   `toml:"id"`
	SHA256 string   `toml:"sha256"`
	Scopes []string `toml:"scopes"`
	Orgs   []string `toml:"orgs"`
}

// RateLimit is one [rate_limits.NAME] policy.
type RateLimit struct {
	Key           string  `toml:"key"`
	Rate          float64 `toml:"rate"`
	Burst         int     `toml:"burst"`
	LegacyHeaders bool    `toml:"legacy_headers"`
}

// Idempotency is [idempotency].
type Idempotency struct {
	Methods           []string `toml:"methods"`
	TTL               Duration `toml:"ttl"`
	OnReuse           OnReuse  `toml:"on_reuse"`
	LockTimeout       Duration `toml:"lock_timeout"`
	MaxStoredResponse Size     `toml:"max_stored_response"`
	MaxKeysPerClient  int      `toml:"max_keys_per_client"`
}

// Upstream is one [[upstreams]] entry.
type Upstream struct {
	Name                  string   `toml:"name"`
	Targets               []string `toml:"targets"`
	Balance               Balance  `toml:"balance"`
	ConnectTimeout        Duration `toml:"connect_timeout"`
	Timeout               Duration `toml:"timeout"`
	MaxConns              int      `toml:"max_conns"`
	Retries               int      `toml:"retries"`
	RetryBudget           float64  `toml:"retry_budget"`
	HealthPath            string   `toml:"health_path"`
	HealthInterval        Duration `toml:"health_interval"`
	HealthTimeout         Duration `toml:"health_timeout"`
	HealthyAfter          int      `toml:"healthy_after"`
	UnhealthyAfter        int      `toml:"unhealthy_after"`
	EjectAfter            int      `toml:"eject_after"`
	EjectOn               EjectOn  `toml:"eject_on"`
	EjectFor              Duration `toml:"eject_for"`
	MaxEjected            float64  `toml:"max_ejected"`
	PanicThreshold        float64  `toml:"panic_threshold"`
	TLSCA                 string   `toml:"tls_ca"`
	TLSServerName         string   `toml:"tls_server_name"`
	TLSCert               string   `toml:"tls_cert"`
	TLSKey                string   `toml:"tls_key"`
	TLSInsecureSkipVerify bool     `toml:"tls_insecure_skip_verify"`
}

// Route is one [[routes]] entry.
type Route struct {
	Path                  string   `toml:"path"`
	Methods               []string `toml:"methods"`
	Upstream              string   `toml:"upstream"`
	StripPrefix           string   `toml:"strip_prefix"`
	Auth                  bool     `toml:"auth"`
	Scopes                []string `toml:"scopes"`
	ForwardAuthorization  bool     `toml:"forward_authorization"`
	RateLimits            []string `toml:"rate_limits"`
	Idempotency           bool     `toml:"idempotency"`
	RequireIdempotencyKey bool     `toml:"require_idempotency_key"`
	BodySchema            string   `toml:"body_schema"`
	Produces              []string `toml:"produces"`
	Maintenance           bool     `toml:"maintenance"`
	Gone                  bool     `toml:"gone"`
	Deprecation           string   `toml:"deprecation"`
	Sunset                string   `toml:"sunset"`
	SunsetLink            string   `toml:"sunset_link"`
	Teapot                bool     `toml:"teapot"`
	// MaxBodyBytes is this route's request body limit; 0 ("") means
	// [server] max_body_bytes. Bodies the gateway does not judge stream,
	// so an upload route may allow gigabytes.
	MaxBodyBytes OptionalSize `toml:"max_body_bytes"`
	// Websocket relays WebSocket upgrades on this route, after every check.
	Websocket            bool     `toml:"websocket"`
	WebsocketIdleTimeout Duration `toml:"websocket_idle_timeout"`
}

// OpenAPI is one [[openapi]] entry: routes from an OpenAPI 3.0 or 3.1
// document.
type OpenAPI struct {
	File        string      `toml:"file"`
	Upstream    string      `toml:"upstream"`
	PathPrefix  string      `toml:"path_prefix"`
	Auth        OpenAPIAuth `toml:"auth"`
	RateLimits  []string    `toml:"rate_limits"`
	Idempotency bool        `toml:"idempotency"`
	Validate    []string    `toml:"validate"`
}

// Defaults returns a Config holding every default of docs/configuration.md; the tables
// that repeat ([[upstreams]], [[routes]], [rate_limits.*]) get theirs per
// entry in applyDefaults.
func Defaults() Config {
	return Config{
		Server: Server{
			Listen:                "127.0.0.1:8080",
			ReadTimeout:           Duration(10 * time.Second),
			WriteTimeout:          Duration(30 * time.Second),
			IdleTimeout:           Duration(60 * time.Second),
			MaxHeaderBytes:        16 << 10,
			MaxBodyBytes:          1 << 20,
			MaxConns:              10000,
			TrustedProxiesRaw:     []string{},
			MaintenanceRetryAfter: Duration(120 * time.Second),
			ShutdownGrace:         Duration(15 * time.Second),
			TLSClientAuth:         "off",
		},
		Admin:   Admin{Listen: "127.0.0.1:9901"},
		Log:     Log{Format: "json", Level: LevelInfo, Access: true},
		Tracing: Tracing{SampleRatio: 0.05, ServiceName: "cobaltgw"},
		Errors:  Errors{KeepUpstreamJSON: true},
		Store: Store{
			Backend:               "memory",
			MemoryBudget:          128 << 20,
			RedisAddrs:            []string{"127.0.0.1:6379"},
			RedisPassword:         "${REDIS_PASSWORD}",
			RedisTimeout:          Duration(50 * time.Millisecond),
			RateLimitOnStoreError: "local",
		},
		Auth: Auth{Realm: "cobaltgw"},
		Idempotency: Idempotency{
			Methods:           []string{"POST", "PATCH"},
			TTL:               Duration(24 * time.Hour),
			OnReuse:           "conflict",
			LockTimeout:       Duration(60 * time.Second),
			MaxStoredResponse: 1 << 20,
			MaxKeysPerClient:  10000,
		},
	}
}

func upstreamDefaults() Upstream {
	return Upstream{
		Balance:        "round_robin",
		ConnectTimeout: Duration(time.Second),
		Timeout:        Duration(30 * time.Second),
		MaxConns:       1024,
		Retries:        1,
		RetryBudget:    0.2,
		HealthInterval: Duration(5 * time.Second),
		HealthTimeout:  Duration(time.Second),
		HealthyAfter:   2,
		UnhealthyAfter: 2,
		EjectAfter:     5,
		EjectOn:        EjectOnGatewayErrors,
		EjectFor:       Duration(30 * time.Second),
		MaxEjected:     0.5,
		PanicThreshold: 0.5,
	}
}

func openAPIDefaults() OpenAPI {
	return OpenAPI{
		Auth:        OpenAPIAuthFromSpec,
		RateLimits:  []string{},
		Idempotency: true,
		Validate:    []string{"body", "parameters"},
	}
}

func jwtDefaults() JWT {
	return JWT{
		Audiences:    []string{},
		Algorithms:   []string{"RS256", "ES256", "EdDSA"},
		Leeway:       Duration(30 * time.Second),
		ScopeClaim:   "scope",
		SubjectClaim: "sub",
		JWKSRefresh:  Duration(5 * time.Minute),
	}
}

// RouteDefaults are the defaults of a [[routes]] entry (and of a route
// imported from OpenAPI).
func RouteDefaults() Route {
	return Route{
		ForwardAuthorization: true,
		Idempotency:          true,
		Produces:             []string{"application/json"},
		WebsocketIdleTimeout: Duration(60 * time.Second),
	}
}
