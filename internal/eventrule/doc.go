// Package eventrule selects bunker's events with patterns and routes them
// to targets.
//
// A pattern is a JSON object in the style of the cloud event buses. Its
// keys are fields of the envelope (see package event), with a nested
// object for the fields of detail; each leaf is an array of values and
// matchers. An event matches when every key of the pattern matches, and
// a leaf matches when any element of its array does:
//
//	{"kind": [{"prefix": "backup."}], "vault": ["prod", "db"],
//	 "detail": {"bytes_added": [{"numeric": [">", 0]}]}}
//
// The matchers are exact values (strings, numbers, booleans, null),
// {"prefix": s}, {"suffix": s}, {"anything-but": v | [v…] | {"prefix": s} |
// {"suffix": s}}, {"numeric": [op, n]} or {"numeric": [op, n, op, n]}, and
// {"exists": true|false}. A leaf matched against an array in the event
// matches when any element does. Compile refuses anything else with an
// *Error naming the field; it and Match bound their work, since patterns
// come from users.
//
// A Rule pairs a pattern with targets (webhook, email, command, copy);
// a Router finds the rules an event matches and the deliveries due. Emit
// records an event and enqueues its deliveries in the transaction of the
// change it reports; a Deliverer takes them from that durable outbox and
// delivers each at least once, retrying with backoff and leaving those
// that keep failing in a dead-letter list from which they can be replayed.
package eventrule
