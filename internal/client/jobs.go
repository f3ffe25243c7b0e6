package client

import (
	"context"
	"net/http"
	"strconv"

	"github.com/bunkerhq/bunker/internal/store"
)

// Job is a job as the server shows it: the stored job and how long it
// ran, or has been running.
type Job struct {
	store.Job
	DurationMS int64 `json:"duration_ms"`
}

// JobQuery selects jobs to list; zero fields select everything. Since and
// Before are RFC 3339 times or durations before now (such as "24h").
type JobQuery struct {
	Kind   string
	State  string
	Vault  string
	Since  string
	Before string
	After  int64 // cursor: the Next of the previous page
	Limit  int
}

// JobPage is one page of jobs, newest first. Next, when not zero, is the
// After of the following page.
type JobPage struct {
	Jobs []Job `json:"jobs"`
	Next int64 `json:"next"`
}

// QueryJobs lists the jobs q selects, newest first.
func (c *Client) QueryJobs(ctx context.Context, q JobQuery) (JobPage, error) {
	v := map[string]string{"kind": q.Kind, "state": q.State, "vault": q.Vault, "since": q.Since, "before": q.Before}
	if q.After > 0 {
		v["after"] = strconv.FormatInt(q.After, 10)
	}
	if q.Limit > 0 {
		v["limit"] = strconv.Itoa(q.Limit)
	}
	vals := map[string][]string{}
	for k, s := range v {
		if s != "" {
			vals[k] = []string{s}
		}
	}
	var out JobPage
	return out, c.do(ctx, http.MethodGet, "/v1/jobs", vals, nil, &out)
}

// Job shows one job by id.
func (c *Client) Job(ctx context.Context, id int64) (Job, error) {
	var out struct {
		Job Job `json:"job"`
	}
	return out.Job, c.do(ctx, http.MethodGet, "/v1/jobs/"+strconv.FormatInt(id, 10), nil, nil, &out)
}
