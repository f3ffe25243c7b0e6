package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/ident"
	"github.com/bunkerhq/bunker/internal/retention"
)

// apiError is an error with the HTTP status and code a client sees.
type apiError struct {
	status  int
	code    string
	message string
	plans   []api.PlanError // the refusals of a plan file
}

func (e *apiError) Error() string { return e.message }

func errorf(status int, code, format string, a ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, a...)}
}

func badRequest(format string, a ...any) *apiError {
	return errorf(http.StatusBadRequest, "bad_request", format, a...)
}

func forbidden(format string, a ...any) *apiError {
	return errorf(http.StatusForbidden, "forbidden", format, a...)
}

func notFound(format string, a ...any) *apiError {
	return errorf(http.StatusNotFound, "not_found", format, a...)
}

func conflict(format string, a ...any) *apiError {
	return errorf(http.StatusConflict, "conflict", format, a...)
}

// asAPIError maps any error to what the client sees; errors that are not
// apiErrors are internal and their text is not shown.
func asAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errorf(http.StatusRequestEntityTooLarge, "too_large", "request body exceeds %d bytes", mbe.Limit)
	}
	return errorf(http.StatusInternalServerError, "internal", "internal error; the server log has the details")
}

// writeJSON writes v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// maxJSONBody bounds every JSON request body.
const maxJSONBody = 1 << 20

// decodeJSON reads a JSON request body into v strictly: the content type
// must be JSON, unknown fields and trailing data are refused, and the body
// is bounded.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return errorf(http.StatusUnsupportedMediaType, "unsupported_media_type", "send the request body as application/json, not %q", ct)
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxJSONBody))
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return badRequest("the request needs a JSON body")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("malformed JSON body: %s", jsonProblem(err))
	}
	if dec.More() {
		return badRequest("malformed JSON body: data after the JSON value")
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); err != io.EOF {
		return badRequest("malformed JSON body: data after the JSON value")
	}
	return nil
}

// jsonProblem describes a decoding error without echoing large input.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("field %q must be %s, not %s", te.Field, te.Type, te.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "the JSON ends early"
	}
	msg := err.Error()
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	return msg
}

func checkVaultName(name string) error {
	if !ident.Name(name) {
		return badRequest("invalid vault name %q: %s", clip(name), ident.NameRule)
	}
	return nil
}

func checkPrincipalName(name string) error {
	if !ident.Principal(name) {
		return badRequest("invalid principal name %q: use 1 to 64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit", clip(name))
	}
	return nil
}

func checkTags(tags []string) error {
	if len(tags) > 32 {
		return badRequest("at most 32 tags per point")
	}
	for _, t := range tags {
		if !ident.Tag(t) {
			return badRequest("invalid tag %q: 1 to 128 printable characters without commas", clip(t))
		}
	}
	return nil
}

// clip shortens user input quoted in messages.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}

// parseSpan parses a duration as people write retention: "30d", "72h",
// "1y", or, for short spans, a Go duration ending in "s" ("90s", "1m30s").
// An empty string is zero.
func parseSpan(field, s string) (time.Duration, error) {
	if s == "" || s == "0" {
		return 0, nil
	}
	d, err := retention.ParseSpan(s)
	if err != nil {
		return 0, badRequest("%s: %v (write durations like 72h, 30d, 2w, 6m, 1y)", field, err)
	}
	if d < 0 {
		return 0, badRequest("%s: a duration cannot be negative", field)
	}
	if d > retention.MaxSpan {
		return 0, badRequest("%s: at most 100 years", field)
	}
	return d, nil
}
