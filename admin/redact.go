package admin

import (
	"fmt"
	"slices"

	"github.com/pelletier/go-toml/v2"

	"github.com/cobaltgw/cobaltgw/config"
)

// Redacted replaces a secret in /config's output.
const Redacted = "<redacted>"

// RedactedTOML renders cfg as TOML for /config, with the values below
// replaced by Redacted. cfg itself is not modified (a running config is
// shared and immutable).
//
//   - store.redis_password: a secret (and the value after ${ENV}
//     expansion, so the environment's secret would otherwise show). Set
//     or not stays visible: an empty password is shown empty.
//   - auth.tokens[].sha256: a digest is not the token, and a random token
//     cannot be recovered from it; but a weak or guessable token can be
//     confirmed offline against its digest, and nothing that reads
//     /config needs it (compare `cobaltgw hash-token` against the file
//     instead). So digests are redacted too; ids and scopes stay.
//   - auth.tokens[].orgs: X-Org-Token values are credentials of their
//     own (a token limited to orgs is usable only with one of them), so
//     a token that has orgs shows one Redacted item, one without none.
//
// Plain tokens never reach the config at all. Paths of TLS key files are
// shown (they name files, not their content).
func RedactedTOML(cfg *config.Config) ([]byte, error) {
	c := *cfg
	if c.Store.RedisPassword != "" {
		c.Store.RedisPassword = Redacted
	}
	c.Auth.Tokens = slices.Clone(c.Auth.Tokens)
	for i := range c.Auth.Tokens {
		c.Auth.Tokens[i].SHA256 = Redacted
		if len(c.Auth.Tokens[i].Orgs) > 0 {
			c.Auth.Tokens[i].Orgs = []string{Redacted}
		}
	}
	body, err := toml.Marshal(&c)
	if err != nil {
		return nil, fmt.Errorf("encoding the running config: %w", err)
	}
	head := fmt.Sprintf("# The running configuration, loaded from %s, with defaults applied.\n# Secrets (store.redis_password, auth.tokens[].sha256, auth.tokens[].orgs) are redacted.\n\n", cfg.Path)
	return append([]byte(head), body...), nil
}
