package admin

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// The package doc lists every endpoint the mux serves.
func TestPackageDocListsEveryEndpoint(t *testing.T) {
	src, err := os.ReadFile("admin.go")
	if err != nil {
		t.Fatal(err)
	}
	doc, _, _ := strings.Cut(string(src), "package admin")
	for _, m := range regexp.MustCompile(`mux\.HandleFunc\("([^"]+)"`).FindAllStringSubmatch(string(src), -1) {
		if !strings.Contains(doc, "GET "+m[1]+" ") {
			t.Errorf("endpoint %s is not in the package doc", m[1])
		}
	}
}
