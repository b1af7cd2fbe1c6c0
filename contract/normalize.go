package contract

import "fmt"

// Table maps an upstream status to the status the client sees. The default
// is README.md's normalization table; [errors.map] overrides single rows.
// A Table is immutable once built and safe for concurrent use.
type Table struct {
	to   [600]uint16
	code [600]string
}

// NewTable builds the default table with overrides applied. An override
// whose target is outside the set is refused, as is a source that is not a
// status code (100–599).
func NewTable(overrides map[int]int) (*Table, error) {
	t := &Table{}
	for s := 100; s < 600; s++ {
		t.to[s] = uint16(defaultMap(s))
	}
	for from, to := range overrides {
		if from < 100 || from > 599 {
			return nil, fmt.Errorf("[errors.map] key %d is not an HTTP status (100-599)", from)
		}
		if !InSet(to) {
			return nil, fmt.Errorf("[errors.map] %d = %d: %d is outside the contract; use one of %v", from, to, to, Statuses)
		}
		t.to[from] = uint16(to)
	}
	for s := 100; s < 600; s++ {
		t.code[s] = codeFor(s, int(t.to[s]))
	}
	return t, nil
}

// defaultMap is README.md "Upstream normalization".
func defaultMap(s int) int {
	switch {
	case s < 400:
		return s // 1xx is handled by the HTTP client; 2xx and 3xx pass through
	case InSet(s):
		return s
	}
	switch s {
	case 407:
		return 401
	case 402, 451:
		return 403
	case 423:
		return 409
	case 424:
		return 422
	case 408, 425, 504:
		return 503
	}
	if s < 500 {
		return 400 // 411 412 413 414 415 416 417 421 426 428 431 and every other 4xx
	}
	return 500 // 501 502 505 and every other 5xx
}

func codeFor(from, to int) string {
	switch {
	case to < 400:
		return ""
	case from == to:
		return UpstreamCode(from)
	case to == 500:
		return CodeUpstreamError
	case to == 503 && (from == 504 || from == 408):
		return CodeUpstreamTimeout
	case to == 503:
		return CodeUpstreamUnavailable
	}
	return UpstreamCode(to)
}

// Map returns the client status and reason code for an upstream status.
// Statuses outside 100–599 are unparsable responses: 500
// upstream_bad_response. A code of "" means the response passes through.
func (t *Table) Map(upstream int) (status int, code string) {
	if upstream < 100 || upstream >= 600 {
		return StatusInternalServerError, CodeUpstreamBadResponse
	}
	return int(t.to[upstream]), t.code[upstream]
}
