package main

import "slices"

// Machine is the pseudo-tool under which the machine's limits are recorded.
const Machine = "machine"

// Tools lists the compared tools in report order; restic is the baseline.
var Tools = []string{"bunker", "restic", "borg"}

// Step describes one measured step of a tool's sequence.
type Step struct {
	Name      string  // as recorded in the CSV
	Title     string  // for the report
	WallGoal  float64 // target for the bunker/restic wall-time ratio
	Backup    bool    // stored size is measured after it
	Limit     string  // machine step it is compared against, if any
	LimitNote string
}

// ToolSteps are the steps each tool runs, in order.
var ToolSteps = []Step{
	{Name: "initial", Title: "initial backup", WallGoal: 0.5, Backup: true, Limit: "read", LimitNote: "backup ÷ read everything"},
	{Name: "unchanged", Title: "unchanged re-backup", WallGoal: 0.35, Backup: true, Limit: "stat", LimitNote: "re-backup ÷ stat everything"},
	{Name: "changed", Title: "backup after changing 5% of files", WallGoal: 0.4, Backup: true},
	{Name: "restore", Title: "full restore", WallGoal: 0.6, Limit: "copy", LimitNote: "restore ÷ cp -a"},
	{Name: "check", Title: "check, reading all data", WallGoal: 0.8, Limit: "read", LimitNote: "check ÷ read everything"},
}

// MachineSteps are the measurements of the machine's own limits.
var MachineSteps = []Step{
	{Name: "read", Title: "read everything: `tar cf - corpus | cat >/dev/null`"},
	{Name: "stat", Title: "stat everything: `find corpus -printf '%s\\n' >/dev/null`"},
	{Name: "copy", Title: "copy everything: `cp -a corpus copy`"},
}

// Goals for the size and memory ratios bunker/restic.
const (
	StoredGoal = 1.0
	RSSGoal    = 1.0
)

// The server part of a run: ServerTool is bunker through its vault server
// (the client side of each step, or the whole step for the local
// reference); ServerProc is the server process, whose CPU time and peak RSS
// are recorded under the same step names.
const (
	ServerTool = "bunker-server"
	ServerProc = "server"
)

// Steps of the server part that are not server-mode counterparts of
// ToolSteps.
const (
	StepParallel   = "parallel"    // clients backing up into one vault at once
	StepUnionLocal = "union-local" // one local backup of all their data, for the stored size
	StepSmall      = "small"       // small backups, one after another, that fill the vault with points
	StepAPIPoints  = "api-points"  // GET /v1/vaults/{v}/points under load
	StepAPIVault   = "api-vault"   // GET /v1/vaults/{v} under load
)

// The S3 part of a run: S3Tool is bunker through its vault server with the
// vault on MinIO (the client side of each step); S3Server and MinIO are the
// server's and MinIO's processes, recorded under the same step names.
const (
	S3Tool   = "bunker-s3"
	S3Server = "s3-server"
	MinIO    = "minio"
)

// S3TimeGoal: a step of the S3 part takes at most this multiple of the
// same step's wall time with the vault on the server's local disk.
const S3TimeGoal = 1.5

// ServerModeSteps are the steps measured in server mode beside bunker's
// local ones of the same name.
var ServerModeSteps = []string{"initial", "unchanged", "changed", "restore"}

// APISteps are the read endpoints loaded, in report order.
var APISteps = []Step{
	{Name: StepAPIPoints, Title: "list points: `GET /v1/vaults/{v}/points`"},
	{Name: StepAPIVault, Title: "show vault: `GET /v1/vaults/{v}`"},
}

// Targets of the server part.
const (
	// ThroughputGoal: a server-mode initial backup runs at this share of
	// local mode's throughput or more.
	ThroughputGoal = 0.8
	// FleetStoredGoal: what the clients together store is at most this
	// multiple of what one local backup of all their data stores.
	FleetStoredGoal = 1.05
	// APIP99Goal: the read API's 99th percentile latency stays below this
	// many milliseconds at APIRateShare of the asked rate or more.
	APIP99Goal   = 20.0
	APIRateShare = 0.95
)

// The scanning part of a run: ScanTool is bunker's ransomware scanner on
// the local vault of bunker's sequence, with a restore of only the changed
// files for comparison. What each scan judged and read is in the meta
// file as scan_STEP_FIELD_runN.
const ScanTool = "bunker-scan"

// ScanSteps are the scanning part's steps, in report order.
var ScanSteps = []Step{
	{Name: "scan-initial", Title: "scan the initial point (every file new)"},
	{Name: "scan-unchanged", Title: "scan the unchanged point against the initial one"},
	{Name: "scan-changed", Title: "scan the point after changing 5% of files against the unchanged one"},
	{Name: "read-changed", Title: "restore only the changed files (`bunker restore --include`)"},
}

// Targets of the scanning part.
const (
	// ScanUnchangedGoal: an unchanged point scans in less than this many
	// seconds of wall time.
	ScanUnchangedGoal = 1.0
	// ScanReadGoal: scanning the changed point takes at most this multiple
	// of the wall time of restoring only the changed files.
	ScanReadGoal = 1.5
	// ScanThroughputGoal: changed data judged per CPU second, in bytes.
	ScanThroughputGoal = 400e6
	// VerifyGoal: bunker's check --read-data ÷ restic's, wall time.
	VerifyGoal = 1.0
)

func knownStep(tool, step string) bool {
	var steps []string
	switch {
	case tool == ScanTool:
		steps = names(ScanSteps)
	case tool == Machine:
		steps = names(MachineSteps)
	case tool == ServerTool:
		steps = append(slices.Clone(ServerModeSteps), StepParallel, StepUnionLocal, StepSmall, StepAPIPoints, StepAPIVault)
	case tool == ServerProc:
		steps = append(slices.Clone(ServerModeSteps), StepParallel, StepSmall, StepAPIPoints, StepAPIVault)
	case tool == S3Tool || tool == S3Server || tool == MinIO:
		steps = ServerModeSteps
	case tool == CopyTool || tool == CopyServerA || tool == CopyServerB:
		steps = names(CopySteps)
	case tool == SchedTool || tool == SchedServer:
		steps = []string{StepSchedPlans}
	case isTool(tool):
		steps = names(ToolSteps)
	}
	return slices.Contains(steps, step)
}

func names(steps []Step) []string {
	out := make([]string, len(steps))
	for i, s := range steps {
		out[i] = s.Name
	}
	return out
}

// stepTitle is the report title of a ToolSteps step.
func stepTitle(name string) string {
	for _, s := range ToolSteps {
		if s.Name == name {
			return s.Title
		}
	}
	return name
}

func isTool(name string) bool {
	for _, t := range Tools {
		if t == name {
			return true
		}
	}
	return false
}

// The copy part of a run: CopyTool is the client side of each step (a
// server-mode backup into server A, `bunker remote pull` on server B, or
// `bunker point copy` on A); CopyServerA and CopyServerB are the two
// servers' processes, recorded under the same step names. What each copy
// read and stored is in the meta file as copy_STEP_FIELD_runN.
const (
	CopyTool    = "bunker-copy"
	CopyServerA = "copy-a"
	CopyServerB = "copy-b"
)

// CopySteps are the copy part's steps, in order.
var CopySteps = []Step{
	{Name: "backup", Title: "server-mode backup of the corpus into A", Backup: true},
	{Name: "pull", Title: "B pulls that point from A (`bunker remote pull`)", Backup: true},
	{Name: "changed", Title: "server-mode backup into A after changing 5% of files", Backup: true},
	{Name: "pull-changed", Title: "B pulls the changed point", Backup: true},
	{Name: "local-copy", Title: "copy of the first point into a second vault of A (`bunker point copy`)", Backup: true},
	{Name: "local-copy-changed", Title: "copy of the changed point into that vault", Backup: true},
}

// Targets of the copy part.
const (
	// CopySpeedGoal: a copy to another server runs at this share of a
	// direct server-mode backup's speed or more (backup wall time ÷ pull
	// wall time), that is copy time at most 1/CopySpeedGoal of the backup's.
	CopySpeedGoal = 0.7
	// CopyChangedGoal: an incremental copy reads at most this multiple of
	// the size of the files the change step changed.
	CopyChangedGoal = 1.0
)

// The scheduler part of a run: SchedTool is bench/schedbench applying many
// plans due at once to a fresh server (SchedServer) and following the
// event stream; its figures are in the meta file as sched_FIELD_runN.
const (
	SchedTool      = "bunker-sched"
	SchedServer    = "sched-server"
	StepSchedPlans = "plans"
)

// SchedLateGoal: every plan's run is recorded within this many
// milliseconds of its slot.
const SchedLateGoal = 1000.0
