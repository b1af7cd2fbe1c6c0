// Command upstream is the bundled example upstream: a small JSON API that
// the README's first command starts behind the gateway. Besides its assets
// API it can misbehave on request, so every normalization rule of the
// contract can be seen with curl:
//
//	GET  /v1/assets                 list (200)
//	POST /v1/assets                 create (201); echoes the JSON body
//	GET  /v1/assets/{id}            one asset, or the API's own JSON 404
//	ANY  /v1/misbehave/status/{n}   answers status n with an HTML page
//	ANY  /v1/misbehave/slow?ms=N    answers after N milliseconds
//	ANY  /v1/misbehave/reset        closes the connection without answering
//	ANY  /v1/misbehave/garbage      answers bytes that are not HTTP
//	GET  /healthz                   200
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

type asset struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

type store struct {
	mu     sync.Mutex
	assets []asset
}

func main() {
	listen := flag.String("listen", "127.0.0.1:9000", "address to listen on")
	flag.Parse()
	s := &store{assets: []asset{{1, "logo.png"}, {2, "report.pdf"}}}
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/assets", s.collection)
	mux.HandleFunc("/v1/assets/", s.item)
	mux.HandleFunc("/v1/misbehave/", misbehave)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, map[string]string{"status": "ok"}) })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"path": r.URL.Path, "method": r.Method, "headers": r.Header})
	})
	log.Printf("example upstream listening on %s", *listen)
	log.Fatal((&http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}).ListenAndServe())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *store) collection(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		writeJSON(w, 200, map[string]any{"assets": s.assets})
	case http.MethodPost:
		var in struct {
			Name string `json:"name"`
		}
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err := json.Unmarshal(body, &in); err != nil || in.Name == "" {
			writeJSON(w, 422, map[string]any{"error": "invalid_asset", "fields": map[string]string{"name": "required"}})
			return
		}
		a := asset{len(s.assets) + 1, in.Name}
		s.assets = append(s.assets, a)
		w.Header().Set("Location", fmt.Sprintf("/v1/assets/%d", a.ID))
		writeJSON(w, 201, a)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		http.Error(w, "<html><body>method not allowed</body></html>", 405)
	}
}

func (s *store) item(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/v1/assets/"))
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil && id >= 1 && id <= len(s.assets) {
		writeJSON(w, 200, s.assets[id-1])
		return
	}
	writeJSON(w, 404, map[string]any{"error": "asset_not_found", "id": strings.TrimPrefix(r.URL.Path, "/v1/assets/")})
}

func misbehave(w http.ResponseWriter, r *http.Request) {
	what := strings.TrimPrefix(r.URL.Path, "/v1/misbehave/")
	switch {
	case strings.HasPrefix(what, "status/"):
		n, err := strconv.Atoi(strings.TrimPrefix(what, "status/"))
		if err != nil || n < 200 || n > 599 {
			n = 500
		}
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(n)
		fmt.Fprintf(w, "<html><body><h1>%d</h1><pre>stack trace at internal-host-7.corp:8443</pre></body></html>", n)
	case what == "slow":
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		time.Sleep(time.Duration(ms) * time.Millisecond)
		writeJSON(w, 200, map[string]int{"slept_ms": ms})
	case what == "reset" || what == "garbage":
		hj, ok := w.(http.Hijacker)
		if !ok {
			return
		}
		c, buf, err := hj.Hijack()
		if err != nil {
			return
		}
		if what == "garbage" {
			_, _ = buf.WriteString("this is not http\r\n\r\n")
			_ = buf.Flush()
		}
		_ = c.Close()
	default:
		writeJSON(w, 404, map[string]string{"error": "no_such_misbehaviour"})
	}
}
