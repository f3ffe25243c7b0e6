// Package event defines the envelope in which bunker's server announces
// what happened: a backup or copy completed or failed, a point was scanned,
// a vault's lock changed, an approval or grant moved on, a verification or
// a job ended.
//
// An Envelope is one JSON object with a fixed set of top-level fields and
// a kind-specific detail object. Its encoding is documented in
// docs/EVENTS.md; Kinds lists every kind bunker emits with the fields of
// its detail. Package eventrule selects envelopes with patterns and routes
// them to targets.
package event
