package contract

import (
	"os"
	"strings"
	"testing"
)

// TestEveryCodeDetailDocumented keeps docs/operations.md "Error details"
// in step with the defaults.
func TestEveryCodeDetailDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range DetailCodes() {
		st := 0
		for _, s := range Statuses {
			if UpstreamCode(s) == c {
				st = s
			}
		}
		row := "| `" + c + "` | " + DefaultDetail(c, st) + " |"
		if !strings.Contains(string(doc), row) {
			t.Errorf("docs/operations.md lacks the row %s", row)
		}
	}
}

func TestDetailsOverride(t *testing.T) {
	if _, err := NewDetails(map[string]string{"upstream_timout": "x"}); err == nil {
		t.Fatal("an unknown code must be refused")
	}
	if _, err := NewDetails(map[string]string{"maintenance": ""}); err == nil {
		t.Fatal("an empty detail must be refused")
	}
	d, err := NewDetails(map[string]string{CodeUpstreamTimeout: "slow"})
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := d.lookup(CodeUpstreamTimeout); !ok || s != "slow" {
		t.Fatal(s)
	}
	if DefaultDetail(CodeUpstreamTimeout, 503) == Detail(503) {
		t.Fatal("an upstream timeout is not maintenance")
	}
}
