package tracing

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/cobaltgw/cobaltgw/config"
)

// CheckEndpoint checks `[tracing] endpoint`: "" (no export) or an
// http:// or https:// URL of an OTLP/HTTP traces endpoint.
func CheckEndpoint(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http:// or https:// URL; write the collector's OTLP/HTTP traces URL such as \"http://127.0.0.1:4318/v1/traces\"", s)
	}
	return nil
}

// CheckSampleRatio checks `[tracing] sample_ratio`: a share from 0 to 1.
func CheckSampleRatio(r float64) error {
	if !(r >= 0 && r <= 1) {
		return fmt.Errorf("%v is not a share of requests; write a number from 0 (none) to 1 (all), e.g. 0.05", r)
	}
	return nil
}

// CheckServiceName checks `[tracing] service_name`: the service.name
// resource attribute, never empty.
func CheckServiceName(s string) error {
	if strings.TrimSpace(s) == "" {
		return fmt.Errorf("the service name is empty; write one such as \"cobaltgw\"")
	}
	return nil
}

// FromConfig checks [tracing] and returns it as the Config New takes,
// with version as service.version. It returns every error, each a
// *config.FieldError on its key ("tracing.endpoint").
func FromConfig(c config.Tracing, version string) (Config, error) {
	errs := []error{
		config.Field("tracing.endpoint", CheckEndpoint(c.Endpoint)),
		config.Field("tracing.sample_ratio", CheckSampleRatio(c.SampleRatio)),
		config.Field("tracing.service_name", CheckServiceName(c.ServiceName)),
	}
	return Config{Endpoint: c.Endpoint, SampleRatio: c.SampleRatio, ServiceName: c.ServiceName, Version: version}, errors.Join(errs...)
}
