package main

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

func knownStep(tool, step string) bool {
	steps := ToolSteps
	if tool == Machine {
		steps = MachineSteps
	} else if !isTool(tool) {
		return false
	}
	for _, s := range steps {
		if s.Name == step {
			return true
		}
	}
	return false
}

func isTool(name string) bool {
	for _, t := range Tools {
		if t == name {
			return true
		}
	}
	return false
}
