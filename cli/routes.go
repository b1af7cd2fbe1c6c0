package cli

import (
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cobaltgw/cobaltgw/config"
	"github.com/cobaltgw/cobaltgw/proxy"
)

func routesFlags(fs *flag.FlagSet) func(Env, []string) int {
	path := configFlag(fs)
	return func(env Env, _ []string) int {
		c, err := compileFile(*path)
		if err != nil {
			fmt.Fprintln(env.Stderr, err)
			return 1
		}
		defer c.Close()
		printRoutes(env.Stdout, c.Routes())
		return 0
	}
}

// printRoutes writes the route table after OpenAPI import (`cobaltgw routes`,
// README.md "OpenAPI import"): one line per route and method group, with
// the upstream, authentication and scopes, rate limits, validation, the
// media types produced, deprecation and where the route came from.
func printRoutes(w io.Writer, routes []proxy.RouteInfo) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PATH\tMETHODS\tUPSTREAM\tAUTH\tLIMITS\tVALIDATION\tPRODUCES\tDEPRECATION\tSOURCE")
	sort.SliceStable(routes, func(i, j int) bool { return routes[i].Path < routes[j].Path })
	for i := range routes {
		r := &routes[i]
		source := "config"
		if r.Source != "" {
			source = r.Source
		}
		if len(r.Operations) == 0 {
			fmt.Fprintln(tw, routeLine(r, r.Path, strings.Join(r.Methods, ","), source))
			continue
		}
		for _, m := range r.Methods {
			op := r.Operations[m]
			fmt.Fprintln(tw, routeLine(op, r.Path, m, source))
		}
	}
	tw.Flush()
}

func routeLine(r *proxy.RouteInfo, path, methods, source string) string {
	up := r.Upstream
	switch {
	case r.Gone:
		up = "(gone)"
	case r.Teapot:
		up = "(teapot)"
	}
	authCol := "-"
	if r.Auth {
		authCol = "token"
		if len(r.Scopes) > 0 {
			authCol += " " + strings.Join(r.Scopes, " ")
		}
	}
	limits := "-"
	if len(r.RateLimits) > 0 {
		limits = strings.Join(r.RateLimits, ",")
	}
	var val []string
	if r.Body {
		b := "body"
		if r.BodyRequired {
			b += "(required)"
		}
		val = append(val, b)
	}
	if r.Params {
		val = append(val, "parameters")
	}
	validation := "-"
	if len(val) > 0 {
		validation = strings.Join(val, ",")
	}
	dep := "-"
	if !r.DeprecationAt.IsZero() {
		dep = "since " + r.DeprecationAt.UTC().Format(time.RFC3339)
	}
	if !r.SunsetAt.IsZero() {
		if dep == "-" {
			dep = ""
		} else {
			dep += " "
		}
		dep += "sunset " + r.SunsetAt.UTC().Format(time.RFC3339)
	}
	return strings.Join([]string{path, methods, up, authCol, limits, validation, strings.Join(r.Produces, ","), dep, source}, "\t")
}

// compileFile runs the gateway's compile step on the file at path, as
// the start and a reload do (proxy.Compile): config's errors and every
// part's, at once, in file order. The caller closes the result.
func compileFile(path string) (*proxy.Compiled, error) {
	cfg, err := config.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return proxy.Compile(cfg)
}
