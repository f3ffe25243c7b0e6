package event

import "slices"

// The kinds of event bunker emits.
const (
	BackupCompleted    = "backup.completed"     // a recovery point was sealed
	BackupFailed       = "backup.failed"        // a backup ended without a point
	CopyCompleted      = "copy.completed"       // a point was copied into a vault of this server
	CopyFailed         = "copy.failed"          // a copy ended without a copy
	PushCompleted      = "push.completed"       // a point was pushed to a central server
	PushFailed         = "push.failed"          // a push ended without a copy at the central server
	PushStalled        = "push.stalled"         // a point's push failed several times in a row
	PullStalled        = "pull.stalled"         // pulls from a remote failed several times in a row
	ScanVerdict        = "scan.verdict"         // a point got a scan verdict
	ScanVerdictChanged = "scan.verdict_changed" // its level differs from the previous point's of the same source
	VaultLockChanged   = "vault.lock_changed"   // a vault's lock was set, changed or removed
	ApprovalRequested  = "approval.requested"   // a guarded operation was requested
	ApprovalNeeded     = "approval.needed"      // an approver's decision is wanted
	ApprovalApproved   = "approval.approved"    // a request has all the approvals it needs
	ApprovalRejected   = "approval.rejected"    // an approver rejected a request
	ApprovalExpired    = "approval.expired"     // a request expired undecided
	ApprovalExecuted   = "approval.executed"    // an approved operation was carried out
	GrantOpened        = "grant.opened"         // a restore-access grant opened
	GrantClosed        = "grant.closed"         // a restore-access grant closed (expired or revoked)
	VerifyCompleted    = "verify.completed"     // a verification found every point it read intact
	VerifyFailed       = "verify.failed"        // a verification found damage, or could not finish
	JobFailed          = "job.failed"           // any background job failed
	PlanStarted        = "plan.started"         // an agent started a plan's run on its host
	PlanSucceeded      = "plan.succeeded"       // a plan's run on a host made its points
	PlanFailed         = "plan.failed"          // a plan's run on a host ended without all its points
	PlanSkipped        = "plan.skipped"         // a pre hook skipped a plan's run on a host
	HookFailed         = "hook.failed"          // a hook of a plan's run failed
	PlanDue            = "plan.due"             // a plan's run came due, and was queued for its hosts' agents
	PlanMissed         = "plan.missed"          // scheduled runs of a plan passed without starting
	PlanOverdue        = "plan.overdue"         // a plan's run is past its completion window
	VaultFlood         = "vault.flood"          // commits to a vault were refused over the flood limit
	PlanDropped        = "plan.dropped"         // a plan's retention or lifecycle moved points to the recycle bin

	// The kinds the server's approval, grant and team workflow records,
	// as docs/NOTIFICATIONS.md names them.
	ApprovalPending   = "approval.pending"   // a confirmed request awaits its team's votes
	ApprovalCancelled = "approval.cancelled" // the requester withdrew a request
	GrantIssued       = "grant.issued"       // a restore-access grant was issued
	GrantRevoked      = "grant.revoked"      // a restore-access grant was revoked
	GrantExpired      = "grant.expired"      // a restore-access grant expired
	TeamInvited       = "team.invited"       // a principal was invited to an approval team
	TeamActive        = "team.active"        // an approval team has enough accepted members to decide
)

// Subjects: what an envelope's Subject names, by kind.
const (
	SubjectPoint   = "point"   // a recovery point's id
	SubjectJob     = "job"     // a job's id, in decimal
	SubjectRequest = "request" // an approval request's id
	SubjectGrant   = "grant"   // a restore-access grant's id
	SubjectVault   = "vault"   // the vault's name, as in Vault
	SubjectTeam    = "team"    // an approval team's name
	SubjectPlan    = "plan"    // a backup plan's name
)

// Field is one field of a kind's detail.
type Field struct {
	Name string // the key in detail
	Type string // its JSON type: string, number, boolean, array of strings, object
	Doc  string // what it holds
}

// KindInfo describes one kind of event.
type KindInfo struct {
	Kind    string
	Doc     string  // when it is emitted
	Subject string  // what Subject names, one of the Subject constants
	Vault   bool    // whether Vault is always set
	Detail  []Field // the fields of detail, in a fixed order
}

// Kinds returns every kind bunker emits, in the order of the constants.
// The slice is new on every call.
func Kinds() []KindInfo {
	fJob := Field{"job", "number", "the job's id"}
	fHostname := Field{"hostname", "string", "the protected host the point is of"}
	fPaths := Field{"paths", "array of strings", "the point's backed-up paths"}
	fError := Field{"error", "string", "what went wrong, for people"}
	fRequest := Field{"operation", "string", "the guarded operation, as point.delete or vault.unlock"}
	fNeeded := Field{"approvals_needed", "number", "approvals the request needs (M of the team's N)"}
	fGot := Field{"approvals", "number", "approvals it has"}
	fTeam := Field{"team", "string", "the approval team that decides"}
	fExpires := Field{"expires", "string", "RFC 3339 time when the request expires undecided"}
	fGrant := Field{"grant", "string", "the grant's id"}
	fPrincipal := Field{"principal", "string", "who may restore, or could"}
	fExpiresAt := Field{"expires_at", "string", "RFC 3339 time when the grant closes"}
	fNotify := Field{"notify", "array of strings", "the principals to tell"}
	fPlan := Field{"plan", "string", "the plan's name"}
	fSlot := Field{"slot", "string", "RFC 3339 time the run was scheduled for"}
	fHost := Field{"host", "string", "the agent host the run is on"}
	fPoints := Field{"points", "array of strings", "the points the run made"}
	fDuration := Field{"duration_seconds", "number", "how long the run took from its start"}
	workflow := func(kind, doc string) KindInfo {
		return KindInfo{kind, doc, SubjectRequest, false, []Field{
			{"request", "string", "the request's id"},
			fRequest,
			{"scope", "string", "the vault, or the server scope, the operation is guarded in"},
			{"target", "string", "what the operation acts on"},
			{"requester", "string", "who asked"},
			fTeam,
			{"state", "string", "the request's state"},
			{"hash", "string", "the hash of the request, which approvers confirm"},
			{"deadline", "string", "RFC 3339 end of the request's current step"},
			fNotify,
		}}
	}
	approval := func(kind, doc string, extra ...Field) KindInfo {
		return KindInfo{kind, doc, SubjectRequest, true, append([]Field{fRequest, fTeam, fGot, fNeeded, fExpires}, extra...)}
	}
	return []KindInfo{
		{BackupCompleted, "a backup sealed a recovery point", SubjectPoint, true, []Field{
			fJob, fHostname, fPaths,
			{"tags", "array of strings", "the point's tags"},
			{"parent", "string", "the point it was made against, if any"},
			{"files", "number", "files in the point"},
			{"bytes", "number", "logical size of the point's files"},
			{"bytes_added", "number", "bytes newly stored in the vault, after deduplication and compression"},
			{"duration_seconds", "number", "how long the backup took"},
			{"expires", "string", "RFC 3339 time when the point expires; absent if it is kept until deleted"},
		}},
		{BackupFailed, "a backup ended without sealing a point", SubjectJob, true, []Field{
			fJob, fHostname, fPaths, fError,
		}},
		{CopyCompleted, "a point was copied into a vault of this server", SubjectPoint, true, []Field{
			{"job", "number", "the copy job's id"},
			{"point", "string", "the original point's id"},
			{"from_site", "string", "the remote the point was pulled from; absent for a vault of this server"},
			{"to_vault", "string", "the vault copied into"},
			{"to_point", "string", "the copy's point id there"},
			{"bytes_sent", "number", "bytes read from the original"},
			{"duration_seconds", "number", "how long the copy took"},
			{"plan", "string", "the plan whose copy action made the copy; absent for other copies"},
			{"copy", "string", "the copy action's `to`; with `plan` only"},
		}},
		{CopyFailed, "a copy ended without a copy, or a plan's copy action could not start", SubjectPoint, true, []Field{
			{"job", "number", "the copy job's id; absent when the copy action could not start"},
			{"point", "string", "the original point's id"},
			{"from_site", "string", "the remote it was pulling from, if any"},
			{"to_site", "string", "the site a plan's copy action copies to, if it names one"},
			{"to_vault", "string", "the vault it was copying into"},
			{"plan", "string", "the plan whose copy action it was; absent for other copies"},
			{"copy", "string", "the copy action's `to`; with `plan` only"},
			fError,
		}},
		{PushCompleted, "a point was pushed to a central server, which recorded a copy of it", SubjectPoint, true, []Field{
			fJob,
			{"target", "string", "the push target's name"},
			{"to_vault", "string", "the central server's vault"},
			{"to_point", "string", "the copy's point id there"},
			{"bytes_sent", "number", "bytes uploaded, after deduplication against the central vault and compression"},
			{"duration_seconds", "number", "how long the push took"},
		}},
		{PushFailed, "a push ended without a copy at the central server; the next look tries again", SubjectPoint, true, []Field{
			fJob,
			{"target", "string", "the push target's name"},
			{"to_vault", "string", "the central server's vault"},
			fError,
		}},
		{PushStalled, "a point's push failed several times in a row: an alert, since the central site lacks the point", SubjectPoint, true, []Field{
			fJob,
			{"target", "string", "the push target's name"},
			{"to_vault", "string", "the central server's vault"},
			{"failures", "number", "failed attempts in a row"},
			fError,
		}},
		{PullStalled, "pulling from a remote failed several times in a row, listing its vault or copying one of its points: an alert, since this site lacks what the remote holds", SubjectVault, true, []Field{
			{"remote", "string", "the remote's name"},
			{"from_vault", "string", "the remote's vault"},
			{"point", "string", "the remote's point that cannot be pulled; absent when its vault could not be listed"},
			{"failures", "number", "failed looks in a row"},
			fError,
		}},
		{ScanVerdict, "a point was scanned for ransomware", SubjectPoint, true, []Field{
			fJob, fHostname, fPaths,
			{"level", "string", "clean, suspicious or infected"},
			{"score", "number", "the verdict's score"},
			{"previous", "string", "the point it was compared with; empty for the first of its source"},
			{"evidence_count", "number", "findings behind the verdict"},
		}},
		{ScanVerdictChanged, "a point's verdict level differs from the previous point's of its source", SubjectPoint, true, []Field{
			fJob, fHostname, fPaths,
			{"from", "string", "the previous point's level"},
			{"to", "string", "this point's level"},
			{"score", "number", "this point's score"},
			{"previous", "string", "the previous point"},
		}},
		{VaultLockChanged, "a vault's lock was set, tightened, loosened within its grace period, or removed", SubjectVault, true, []Field{
			{"mode", "string", "governance, compliance, or none when removed"},
			{"previous_mode", "string", "the mode before, or none"},
			{"min_retention_seconds", "number", "the lock's minimum retention"},
			{"max_retention_seconds", "number", "the lock's maximum retention; 0 for none"},
			{"changeable_until", "string", "RFC 3339 end of the grace period in which the lock may still be loosened; absent once fixed"},
		}},
		approval(ApprovalRequested, "someone asked for a guarded operation", Field{"requested_by", "string", "who asked"}),
		approval(ApprovalNeeded, "an approver's decision is wanted", Field{"approver", "string", "whose decision"}),
		approval(ApprovalApproved, "a request has all the approvals it needs"),
		approval(ApprovalRejected, "an approver rejected a request", Field{"approver", "string", "who rejected it"}, Field{"reason", "string", "why, as given"}),
		approval(ApprovalExpired, "a request expired undecided"),
		approval(ApprovalExecuted, "an approved operation was carried out", Field{"outcome", "string", "success, or the error"}),
		{GrantOpened, "a restore-access grant opened", SubjectGrant, true, []Field{
			{"principal", "string", "who may restore"},
			{"expires", "string", "RFC 3339 time when the grant closes"},
			{"request_id", "string", "the approval request that opened it"},
		}},
		{GrantClosed, "a restore-access grant closed", SubjectGrant, true, []Field{
			{"principal", "string", "who could restore"},
			{"reason", "string", "expired or revoked"},
		}},
		{VerifyCompleted, "a verification found every point it read intact and signed", SubjectJob, true, []Field{
			fJob,
			{"points", "number", "points verified"},
			{"packs_read", "number", "packs read whole"},
			{"bytes_read", "number", "bytes read"},
			{"duration_seconds", "number", "how long it took"},
		}},
		{VerifyFailed, "a verification found damage, or could not finish", SubjectJob, true, []Field{
			fJob,
			{"points", "number", "points verified"},
			{"points_damaged", "number", "points with a problem or an invalid signature"},
			{"problems", "number", "defects found"},
			fError,
		}},
		{JobFailed, "any background job failed: maintenance, a scan, a verification, a copy, a restore test…", SubjectJob, false, []Field{
			fJob,
			{"job_kind", "string", "the job's kind, as maintenance or scan"},
			fError,
		}},
		{PlanStarted, "an agent claimed a plan's run on its host and started it", SubjectJob, true, []Field{
			fJob, fPlan, fSlot, fHost,
		}},
		{PlanSucceeded, "a plan's run on a host made a point of each of its sources", SubjectJob, true, []Field{
			fJob, fPlan, fSlot, fHost, fPoints, fDuration,
		}},
		{PlanFailed, "a plan's run on a host ended without a point of each of its sources: a hook or a source failed", SubjectJob, true, []Field{
			fJob, fPlan, fSlot, fHost, fPoints, fDuration, fError,
		}},
		{PlanSkipped, "a pre hook whose on_failure is skip failed, and the run on that host backed up nothing", SubjectJob, true, []Field{
			fJob, fPlan, fSlot, fHost, fDuration, fError,
		}},
		{PlanDue, "a plan's run came due on the server's clock and was queued for the agent of each of its hosts", SubjectPlan, true, []Field{
			fPlan, fSlot,
			{"late", "string", "how late the run fired after its slot, as a Go duration"},
			{"hosts", "array of strings", "the hosts whose agents run it"},
			{"jobs", "array of numbers", "the queued jobs, one per host"},
		}},
		{PlanMissed, "scheduled runs of a plan passed without starting: the server was down, or no agent claimed the run inside its start window", SubjectPlan, true, []Field{
			fPlan,
			{"slot", "string", "RFC 3339 time of the newest slot missed"},
			{"first", "string", "RFC 3339 time of the oldest slot missed"},
			{"count", "number", "how many slots were missed"},
			{"reason", "string", "why: not started in its start window, the server was down, or a run was still going"},
		}},
		{PlanOverdue, "a plan's run is still going past its completion window", SubjectPlan, true, []Field{
			fPlan, fSlot,
			{"started", "string", "RFC 3339 time the run started"},
			{"deadline", "string", "RFC 3339 end of its completion window"},
		}},
		{HookFailed, "a hook of a plan's run exited with a status other than 0, or was killed at its timeout", SubjectJob, true, []Field{
			fJob, fPlan, fHost,
			{"phase", "string", "pre or post"},
			{"argv", "array of strings", "the hook's command"},
			{"on_failure", "string", "fail, skip or continue: what the failure did to the run"},
			{"exit_status", "number", "the exit status; -1 when the hook was killed or did not start"},
			{"timed_out", "boolean", "whether it was killed at its timeout"},
			{"stderr", "string", "the end of what it wrote to standard error"},
			fError,
		}},
		{VaultFlood, "commits to a vault were refused: a vault or a principal made more points in the window than the flood limit allows; once per window", SubjectVault, true, []Field{
			{"principal", "string", "who committed the refused point"},
			{"scope", "string", "vault when the vault's limit was reached, principal when the principal's"},
			{"limit", "number", "commits allowed per window"},
			{"window_seconds", "number", "the window's length"},
			{"hostname", "string", "the host the refused point named"},
		}},
		{PlanDropped, "a plan's retention rules or its expire_after moved points to the recycle bin in a maintenance pass", SubjectVault, true, []Field{
			{"plan", "string", "the plan"},
			{"points", "array of strings", "the points moved to the recycle bin, the first 200 if there are more"},
			{"retention", "number", "points moved because no retention rule keeps them"},
			{"expired", "number", "points moved because they are older than the lifecycle's expire_after"},
			{"kept", "number", "points the plan would drop that the lock, a legal hold or the minimum retention keeps for now"},
			{"unverified", "number", "the plan's points not verified (or infected), which no rule counts or drops"},
			{"copies_from", "string", "set when the points dropped are copies of the plan's points of this vault, dropped by the plan's copy action's retention"},
		}},
		workflow(ApprovalPending, "a confirmed request awaits its team's votes"),
		workflow(ApprovalCancelled, "the requester withdrew a request"),
		{GrantIssued, "a restore-access grant was issued after an approved request", SubjectGrant, true, []Field{
			fGrant, fPrincipal,
			{"request", "string", "the approval request that allowed it"},
			{"point", "string", "the point it allows restoring, if only one"},
			fExpiresAt,
			fTeam,
			fNotify,
		}},
		{GrantRevoked, "a restore-access grant was revoked before it expired", SubjectGrant, true, []Field{
			fGrant, fPrincipal,
			{"by", "string", "who revoked it"},
			fNotify,
		}},
		{GrantExpired, "a restore-access grant reached its expiry", SubjectGrant, true, []Field{
			fGrant, fPrincipal, fExpiresAt, fNotify,
		}},
		{TeamInvited, "a principal was invited to an approval team", SubjectTeam, false, []Field{
			fTeam,
			{"member", "string", "who was invited"},
			fNotify,
		}},
		{TeamActive, "an approval team has enough accepted members to decide requests", SubjectTeam, false, []Field{
			fTeam, fNotify,
		}},
	}
}

// Lookup returns the description of kind, and whether bunker emits it.
func Lookup(kind string) (KindInfo, bool) {
	ks := Kinds()
	i := slices.IndexFunc(ks, func(k KindInfo) bool { return k.Kind == kind })
	if i < 0 {
		return KindInfo{}, false
	}
	return ks[i], true
}
