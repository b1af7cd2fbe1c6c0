package contract

import "unsafe"

// bytesToString views b as a string without copying; the caller must not
// modify b while the string is in use (it is only read during Write).
func bytesToString(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}
