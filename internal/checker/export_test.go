package checker

// SetInFlight changes how many bytes of sealed blobs a check holds at once
// and returns a function that restores the default.
func SetInFlight(n int) (restore func()) {
	old := inFlight
	inFlight = n
	return func() { inFlight = old }
}
