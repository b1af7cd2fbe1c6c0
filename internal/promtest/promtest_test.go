package promtest

import "testing"

func TestSamples(t *testing.T) {
	s, err := Samples("# HELP x a\n# TYPE x counter\nx{b=\"2\",a=\"1\"} 3\ny 4.5\n")
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]float64{`x{a="1",b="2"}`: 3, `x{b="2",a="1"}`: 3, "y": 4.5} {
		if got, ok := s[k]; !ok || got != want {
			t.Errorf("%s = %v (%v), want %v", k, got, ok, want)
		}
	}
	if _, err := Samples("x notanumber\n"); err == nil {
		t.Error("a bad value parsed")
	}
}
