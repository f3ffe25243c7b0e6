package api

import (
	"time"

	"github.com/bunkerhq/bunker/internal/plan"
)

// AgentPlans is a response body: the plans with sources on one agent
// host, each with only that host's sources, in canonical form.
type AgentPlans struct {
	Host  string      `json:"host"`
	Plans []plan.Plan `json:"plans"`
}

// ClaimRequest asks for the oldest queued run of a plan on Host:
// POST /v1/agent/jobs/claim.
type ClaimRequest struct {
	Host string `json:"host"`
}

// AgentJob is a response body: a plan's run an agent claimed. Plan holds
// only the sources on Host.
type AgentJob struct {
	ID      int64     `json:"id"`
	Plan    plan.Plan `json:"plan"`
	Slot    time.Time `json:"slot"`
	Host    string    `json:"host"`
	Started time.Time `json:"started"`
}

// ProgressRequest reports how far a claimed run has come:
// POST /v1/agent/jobs/{id}/progress.
type ProgressRequest struct {
	Phase      string `json:"phase,omitempty"`
	BytesDone  int64  `json:"bytes_done,omitempty"`
	BytesTotal int64  `json:"bytes_total,omitempty"`
	FilesDone  int64  `json:"files_done,omitempty"`
	FilesTotal int64  `json:"files_total,omitempty"`
}

// The states a run ends in, as FinishRequest.State gives them.
const (
	RunSucceeded = "succeeded" // every source made its point
	RunFailed    = "failed"    // a hook or a source failed
	RunSkipped   = "skipped"   // a pre hook whose on_failure is skip failed
)

// FinishRequest reports how a claimed run ended:
// POST /v1/agent/jobs/{id}/finish.
type FinishRequest struct {
	State  string       `json:"state"`
	Error  string       `json:"error,omitempty"`
	Points []string     `json:"points,omitempty"`
	Hooks  []HookReport `json:"hooks,omitempty"`
	// Bytes is how many bytes the run read from its sources.
	Bytes int64 `json:"bytes,omitempty"`
}

// HookReport is how one hook of a run ended: every failed hook is
// reported, whatever its on_failure.
type HookReport struct {
	Phase     string   `json:"phase"` // pre or post
	Argv      []string `json:"argv"`
	OnFailure string   `json:"on_failure"`
	// ExitStatus is the hook's exit status; -1 when it was killed or did
	// not start.
	ExitStatus int    `json:"exit_status"`
	TimedOut   bool   `json:"timed_out,omitempty"`
	Stderr     string `json:"stderr,omitempty"` // the end of its standard error
	Error      string `json:"error,omitempty"`
	DurationMS int64  `json:"duration_ms"`
}
