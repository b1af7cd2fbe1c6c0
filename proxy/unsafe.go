package proxy

import "unsafe"

// stringBytes views s as bytes without copying, for APIs that only read
// their []byte argument (limiter keys). The bytes must never be written.
func stringBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
