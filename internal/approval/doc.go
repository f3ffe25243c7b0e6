// Package approval is the logic of multi-party approval: the canonical form
// and hash of a request for a guarded operation, approvers' ed25519 keys
// and signatures, approval teams, the workflow every request goes through,
// and the offline verifier that checks an audit export for executed
// operations that did not carry enough valid signatures. Keeping requests,
// teams and votes is the store's job; executing an operation is the
// server's.
//
// # Requests
//
// A request pins one guarded operation (Operation), the scope whose team
// approves it (a vault's name, or "*" for the server), the object it acts
// on (Target, e.g. "point/prod/3fa9…"), its parameters (Params, a JSON
// object), who asked (Requester), the team that approves (Team), when it
// was made (Created) and a random id. Its canonical form is the JSON object
//
//	{"created":…,"id":…,"operation":…,"params":{…},"requester":…,"scope":…,"target":…,"team":…}
//
// in the canonical JSON of package audit (members sorted, no whitespace,
// numbers by their exact value), with created in RFC 3339 in UTC with as
// many fractional digits as needed (none for a whole second). The request's
// hash is the lower-case hex SHA-256 of
//
//	"bunker approval request v1\n" followed by the canonical form.
//
// Because the id and the requester are part of it, two requests never
// share a hash, even for the same operation on the same object.
//
// # Signatures
//
// An approver holds an ed25519 key pair made on its own machine; the
// server keeps only the public key. A vote (approve or reject) is the
// ed25519 signature of
//
//	"bunker approval v1\n" hash "\n" vote "\n" key-id
//
// where hash is the request's hash (64 hex digits), vote is "approve" or
// "reject", and key-id is "ed25519:" and the first 16 hex digits of the
// SHA-256 of the 32-byte public key. A signature is good for one request
// and one vote: it cannot be replayed on another request, nor turned from
// a rejection into an approval.
//
// A private key file is two lines: "bunker approver key v1" and the
// standard base64 (with padding) of the key's 32-byte seed, each followed
// by "\n". It is written with mode 0600 and refused when others may read
// it. Public keys travel as the standard base64 of their 32 bytes.
//
// # Teams
//
// A team has members (principals holding the approver role) and a
// threshold M. A member is invited, then accepts with its own credentials
// and its public key; a team is active once at least max(2, M) members
// have accepted. M is at least 2 and at most the number of active members.
// Once a team is active, changing its members or its threshold is itself a
// request that the team approves.
//
// # The workflow
//
// A request starts awaiting the requester's confirmation (a second,
// deliberate step). Confirmed, it is pending approval: the team's members
// vote, each once, never the requester. With M approvals it is approved
// and awaits the requester's final confirmation, at which the server
// executes exactly the pinned operation, once. A rejection ends it when
// the team's policy says so (RejectAny: any rejection; RejectUnreachable:
// once too few members are left to reach M). Every waiting step has a
// deadline (24 hours by default); past it the request is expired. A
// requester may cancel a request that is not final.
//
// # Verifying an audit export
//
// The server records every step in its audit log. Verify replays the log:
// it checks the hash chain and the signed checkpoints as audit.Verify
// does, rebuilds each team's members and keys from the team entries, and
// checks that every executed request (an "approval.execute" entry) hashes
// to the hash it names and carries M valid approving signatures, by
// distinct active members of its team other than the requester, as the
// team was at that point of the log. Changes to an active team must name
// an executed request that approved them. The entries it reads are
// described with the types TeamEvent and Execution.
package approval
