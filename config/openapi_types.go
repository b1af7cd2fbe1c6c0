package config

import "fmt"

// OpenAPIAuth is [[openapi]] auth: the string "from_spec", or a boolean.
type OpenAPIAuth string

// The values of OpenAPIAuth.
const (
	OpenAPIAuthFromSpec OpenAPIAuth = "from_spec"
	OpenAPIAuthTrue     OpenAPIAuth = "true"
	OpenAPIAuthFalse    OpenAPIAuth = "false"
)

// decodeTOML accepts "from_spec", true or false.
func (a *OpenAPIAuth) decodeTOML(v any) error {
	switch x := v.(type) {
	case bool:
		*a = OpenAPIAuthFalse
		if x {
			*a = OpenAPIAuthTrue
		}
		return nil
	case string:
		if x == string(OpenAPIAuthFromSpec) {
			*a = OpenAPIAuthFromSpec
			return nil
		}
	}
	return fmt.Errorf("write \"from_spec\" (the document's security requirements), true or false")
}
