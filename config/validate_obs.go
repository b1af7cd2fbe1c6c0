package config

// observability checks [log]; package tracing checks [tracing]
// (tracing.FromConfig), and the compile step [errors.details] by
// package contract's list of reason codes.
func (v *validator) observability() {
	levels := make([]string, len(LogLevels))
	for i, l := range LogLevels {
		levels[i] = string(l)
	}
	v.oneOf("log.level", string(v.cfg.Log.Level), levels...)
}
