// Package client talks to a bunker server's API over HTTPS, trusting either
// exactly the certificate with a pinned fingerprint or the system's CAs.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/tlsutil"
)

// Client is an API client. It is safe for concurrent use.
type Client struct {
	base      *url.URL
	hc        *http.Client
	token     string
	maxAnswer int64
}

// DefaultMaxAnswer bounds a JSON answer unless Options say otherwise.
const DefaultMaxAnswer = 256 << 20

// ErrAnswerTooLarge is a JSON answer longer than the client takes.
var ErrAnswerTooLarge = errors.New("answer too large")

// Options configure a Client.
type Options struct {
	// URL is the server's base URL, e.g. https://backup.example:8443.
	URL string
	// Fingerprint pins the server's certificate ("sha256:…"); empty trusts
	// the system's certificate authorities.
	Fingerprint string
	// Token is the API token sent with every request.
	Token string
	// HTTPClient replaces the transport (tests); Fingerprint is then ignored.
	HTTPClient *http.Client
	// MaxAnswer bounds the bytes of a JSON answer (0: DefaultMaxAnswer),
	// so that a broken or hostile server (a workload site a central
	// server pulls from, say) cannot make the client hold more.
	MaxAnswer int64
}

// New returns a client for the server at opts.URL.
func New(opts Options) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(opts.URL, "/"))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("server URL %q: want https://host:port", opts.URL)
	}
	hc := opts.HTTPClient
	if hc == nil {
		if u.Scheme != "https" {
			return nil, fmt.Errorf("server URL %q: bunker talks to servers over https only", opts.URL)
		}
		tc, err := tlsutil.ClientConfig(opts.Fingerprint, u.Hostname())
		if err != nil {
			return nil, err
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = tc
		tr.MaxIdleConnsPerHost = 16
		tr.ForceAttemptHTTP2 = true
		hc = &http.Client{Transport: tr}
	}
	limit := opts.MaxAnswer
	if limit <= 0 {
		limit = DefaultMaxAnswer
	}
	return &Client{base: u, hc: hc, token: opts.Token, maxAnswer: limit}, nil
}

// WithToken returns a copy of c that sends token.
func (c *Client) WithToken(token string) *Client {
	d := *c
	d.token = token
	return &d
}

// URL returns the server's base URL.
func (c *Client) URL() string { return c.base.String() }

// Error is an error the server answered with.
type Error struct {
	Status    int
	Code      string
	Message   string
	RequestID string
	// PlanErrors are the refusals of a plan file (Code invalid_plan).
	PlanErrors []api.PlanError
}

func (e *Error) Error() string {
	return fmt.Sprintf("server: %s (HTTP %d)", e.Message, e.Status)
}

// Pending is what a guarded operation returns as its error: the server
// did nothing yet, and recorded an approval request that its requester
// confirms (ConfirmApproval) before the team votes.
type Pending struct {
	api.Pending
}

func (p *Pending) Error() string { return p.Message }

// AsPending returns the approval request err carries, if it is one.
func AsPending(err error) (*Pending, bool) {
	var p *Pending
	ok := errors.As(err, &p)
	return p, ok
}

// IsStatus reports whether err is a server error with the given status.
func IsStatus(err error, status int) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == status
}

func (c *Client) request(ctx context.Context, method, path string, q url.Values, contentType string, body []byte) (*http.Response, error) {
	u := *c.base
	u.Path = c.base.Path + path
	if q != nil {
		u.RawQuery = q.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("User-Agent", "bunker-client")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 400 {
		defer resp.Body.Close()
		return nil, decodeError(resp)
	}
	return resp, nil
}

func decodeError(resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var eb api.ErrorBody
	if err := json.Unmarshal(data, &eb); err != nil || eb.Error.Message == "" {
		msg := strings.TrimSpace(string(data))
		if len(msg) > 200 {
			msg = msg[:200]
		}
		if msg == "" {
			msg = http.StatusText(resp.StatusCode)
		}
		return &Error{Status: resp.StatusCode, Code: "http", Message: msg}
	}
	return &Error{Status: resp.StatusCode, Code: eb.Error.Code, Message: eb.Error.Message, RequestID: eb.Error.RequestID, PlanErrors: eb.Error.PlanErrors}
}

// do sends in as JSON (unless nil) and decodes the JSON answer into out
// (unless nil).
func (c *Client) do(ctx context.Context, method, path string, q url.Values, in, out any) error {
	var body []byte
	ct := ""
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		ct = "application/json"
	}
	resp, err := c.request(ctx, method, path, q, ct, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusAccepted {
		p := &Pending{}
		if err := c.decode(resp, &p.Pending); err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
		return p
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := c.decode(resp, out); err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	return nil
}

// raw sends a binary body and returns the binary answer, bounded by limit.
func (c *Client) raw(ctx context.Context, method, path, contentType string, body []byte, limit int64) ([]byte, error) {
	resp, err := c.request(ctx, method, path, nil, contentType, body)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s %s: answer larger than %d bytes", method, path, limit)
	}
	return data, nil
}

// Stream sends a GET and returns the body for the caller to read and close.
func (c *Client) Stream(ctx context.Context, path string, q url.Values) (io.ReadCloser, error) {
	resp, err := c.request(ctx, http.MethodGet, path, q, "", nil)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// seg escapes one path segment.
func seg(s string) string { return url.PathEscape(s) }

// decode reads a JSON answer into out, at most the client's bound of it.
func (c *Client) decode(resp *http.Response, out any) error {
	if err := json.NewDecoder(&cappedReader{r: resp.Body, left: c.maxAnswer}).Decode(out); err != nil {
		if errors.Is(err, ErrAnswerTooLarge) {
			return fmt.Errorf("decode answer: longer than %d MiB, the most this client takes (%w): list less at a time, with filters", c.maxAnswer>>20, err)
		}
		return fmt.Errorf("decode answer: %w", err)
	}
	return nil
}

// cappedReader reads r and fails with ErrAnswerTooLarge once it has more
// than left bytes to give.
type cappedReader struct {
	r    io.Reader
	left int64
}

func (c *cappedReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		var one [1]byte
		if n, err := c.r.Read(one[:]); n > 0 {
			return 0, ErrAnswerTooLarge
		} else if err != nil {
			return 0, err
		}
		return 0, nil
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

// Token returns the API token the client sends.
func (c *Client) Token() string { return c.token }
