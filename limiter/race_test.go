//go:build race

package limiter

// raceEnabled: the race detector slows the memory test tenfold and changes
// what it measures.
const raceEnabled = true
