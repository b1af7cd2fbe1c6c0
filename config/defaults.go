package config

import (
	"reflect"
	"strconv"
)

// applyDefaults gives each [[upstreams]], [[auth.jwt]] and [[routes]] entry the defaults
// of the keys it does not write. The decoder starts array-table entries
// from zero values, and some defaults are not zero (retries = 1,
// idempotency = true), so presence is read from the index.
func applyDefaults(cfg *Config, ix *index) {
	ud := reflect.ValueOf(upstreamDefaults())
	for i := range cfg.Upstreams {
		fill(reflect.ValueOf(&cfg.Upstreams[i]).Elem(), ud, "upstreams["+strconv.Itoa(i)+"]", ix)
	}
	jd := reflect.ValueOf(jwtDefaults())
	for i := range cfg.Auth.JWT {
		fill(reflect.ValueOf(&cfg.Auth.JWT[i]).Elem(), jd, "auth.jwt["+strconv.Itoa(i)+"]", ix)
	}
	rd := reflect.ValueOf(RouteDefaults())
	for i := range cfg.Routes {
		fill(reflect.ValueOf(&cfg.Routes[i]).Elem(), rd, "routes["+strconv.Itoa(i)+"]", ix)
	}
	od := reflect.ValueOf(openAPIDefaults())
	for i := range cfg.OpenAPI {
		fill(reflect.ValueOf(&cfg.OpenAPI[i]).Elem(), od, "openapi["+strconv.Itoa(i)+"]", ix)
	}
}

func fill(dst, def reflect.Value, prefix string, ix *index) {
	t := dst.Type()
	for i := 0; i < t.NumField(); i++ {
		tag := t.Field(i).Tag.Get("toml")
		if tag == "" || tag == "-" || ix.has(prefix+"."+tag) {
			continue
		}
		dst.Field(i).Set(def.Field(i))
	}
}
