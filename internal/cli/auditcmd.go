package cli

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/bunkerhq/bunker/internal/audit"
	"github.com/bunkerhq/bunker/internal/client"
	signing "github.com/bunkerhq/bunker/internal/secret"
)

// auditPoll is how often `audit tail --follow` asks for new entries.
const auditPoll = 2 * time.Second

func newAuditCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Read, export and verify the server's audit log",
		Long: `The server records every change and every refused attempt in an
append-only audit log. Each entry holds the hash of the one before it, and
the server signs checkpoints of the chain with its key, so that an edited,
deleted, inserted or reordered entry, or a log cut short, is detected.

These commands need the auditor role.`,
		Example: `  bunker audit tail -n 50
  bunker audit export -o audit.jsonl
  bunker audit verify --file audit.jsonl`,
	}
	cmd.AddCommand(newAuditTailCmd(g), newAuditExportCmd(g), newAuditVerifyCmd(g))
	return cmd
}

// lastAuditSeq finds the newest entry's seq with few small requests: seqs
// run from 1 without gaps, so whether an entry follows seq k answers
// whether k is below the last one.
func lastAuditSeq(ctx context.Context, c *client.Client) (uint64, error) {
	after := func(k uint64) (bool, error) {
		p, err := c.Audit(ctx, k, 1)
		return len(p.Entries) > 0, err
	}
	if more, err := after(0); err != nil || !more {
		return 0, err
	}
	lo, hi := uint64(0), uint64(1)
	for {
		more, err := after(hi)
		if err != nil {
			return 0, err
		}
		if !more {
			break
		}
		lo, hi = hi, hi*2
	}
	// An entry follows lo but none follows hi.
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		more, err := after(mid)
		if err != nil {
			return 0, err
		}
		if more {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi, nil
}

func (g *globals) printAuditEntry(e audit.Entry) error {
	if g.json {
		return g.printJSON(e)
	}
	detail := ""
	if len(e.Detail) > 0 {
		detail = " " + display(string(e.Detail))
	}
	actor := e.Actor
	if actor == "" {
		actor = "-"
	}
	remote := ""
	if e.Remote != "" {
		remote = " from " + display(e.Remote)
	}
	g.printf("%6d  %s  %-7s  %-12s  %-20s  %s%s%s\n", e.Seq, when(e.Time), e.Outcome, display(actor), display(e.Action), display(e.Target), remote, detail)
	return nil
}

func newAuditTailCmd(g *globals) *cobra.Command {
	var n int
	var follow bool
	cmd := &cobra.Command{
		Use:   "tail [-n N] [--follow]",
		Short: "Show the newest audit entries, and follow new ones",
		Long: `Show the newest N entries of the audit log, oldest first: seq, time,
outcome (ok, denied or failed), actor, action, target, client address and
detail. --follow keeps printing new entries (it asks every 2 seconds) until
interrupted. --json prints one entry per line.`,
		Example: `  bunker audit tail
  bunker audit tail -n 100
  bunker audit tail -n 0 --follow --json`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if n < 0 {
				return usageError{fmt.Errorf("-n %d: give a number of entries, 0 or more", n)}
			}
			ctx := cmd.Context()
			c, err := g.dial()
			if err != nil {
				return err
			}
			last, err := lastAuditSeq(ctx, c)
			if err != nil {
				return failed(err, "read the audit log")
			}
			after := uint64(0)
			if last > uint64(n) {
				after = last - uint64(n)
			}
			if n == 0 {
				after = last
			}
			for {
				// Read everything after `after`, page by page.
				for {
					page, err := c.Audit(ctx, after, 1000)
					if err != nil {
						if follow && ctx.Err() != nil {
							return nil
						}
						return failed(err, "read the audit log")
					}
					for _, e := range page.Entries {
						if !follow && e.Seq > last {
							return nil // newer than when we started: tail without --follow stops here
						}
						if err := g.printAuditEntry(e); err != nil {
							return err
						}
						after = e.Seq
					}
					if page.Next == 0 || len(page.Entries) == 0 {
						break
					}
				}
				if !follow {
					return nil
				}
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(auditPoll):
				}
			}
		},
	}
	cmd.Flags().IntVarP(&n, "lines", "n", 20, "show the newest `N` entries")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new entries until interrupted")
	return cmd
}

// lineCounter counts the lines written through it.
type lineCounter struct {
	w     io.Writer
	lines int
	bytes int64
}

func (l *lineCounter) Write(p []byte) (int, error) {
	n, err := l.w.Write(p)
	l.lines += bytes.Count(p[:n], []byte{'\n'})
	l.bytes += int64(n)
	return n, err
}

func newAuditExportCmd(g *globals) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "export [-o FILE]",
		Short: "Export the whole audit log as JSON lines",
		Long: `Export the whole audit log with its signed checkpoints as JSON lines: a
header naming the format and the server's public key, then each entry and
each checkpoint after the entry it signs. The server signs a checkpoint of
the newest entry first, so the export is covered to its end.

The export goes to stdout, or to FILE with -o (written whole or not at all).
Keep it somewhere the server cannot reach; ` + "`bunker audit verify --file`" + `
checks it later.`,
		Example: `  bunker audit export -o /mnt/offsite/audit-$(date +%F).jsonl
  bunker audit export | gzip > audit.jsonl.gz`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.dial()
			if err != nil {
				return err
			}
			body, err := c.AuditExport(cmd.Context())
			if err != nil {
				return failed(err, "export the audit log")
			}
			defer body.Close()
			if out == "" || out == "-" {
				if _, err := io.Copy(g.stdout, body); err != nil {
					return fmt.Errorf("export the audit log: %w", err)
				}
				return nil
			}
			n, err := writeFileAtomic(out, body)
			if err != nil {
				return fmt.Errorf("export the audit log to %s: %w", out, err)
			}
			if g.json {
				return g.printJSON(map[string]any{"file": out, "lines": n.lines, "bytes": n.bytes})
			}
			g.printf("exported the audit log to %s (%d lines)\n", out, n.lines)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "write the export to this `file` instead of stdout")
	return cmd
}

// writeFileAtomic writes r to path through a temporary file in the same
// directory, so that path holds all of it or is left as it was.
func writeFileAtomic(path string, r io.Reader) (*lineCounter, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	n := &lineCounter{w: f}
	_, err = io.Copy(n, r)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	return n, os.Rename(f.Name(), path)
}

// kindWrongKey is the problem `audit verify` reports when an export names
// another public key than the trusted one.
const kindWrongKey = "wrong-key"

// verifyResult is what `audit verify --json` prints.
type verifyResult struct {
	OK        bool   `json:"ok"`
	Source    string `json:"source"`     // the server's URL or the file
	KeyID     string `json:"key_id"`     // the trusted key
	KeySource string `json:"key_source"` // where the trusted key came from
	audit.Report
}

func newAuditVerifyCmd(g *globals) *cobra.Command {
	var file, pubB64, keyID string
	cmd := &cobra.Command{
		Use:   "verify [--file EXPORT] [--public-key BASE64 | --key-id ID]",
		Short: "Verify the audit log's hash chain and signed checkpoints",
		Long: `Verify the audit log: fetch an export from the server (or read one written by
` + "`bunker audit export`" + ` with --file), and check that its entries form an
unbroken hash chain from the first and that every checkpoint is signed by
the server's key and matches the entry it names. Every problem is listed
with its seq and kind: edited, deleted, inserted, reordered, bad-checkpoint,
truncated, or wrong-key (the export names another key than the trusted one).
Exit code 4 means problems were found.

The signatures are checked against a key the export cannot forge: the one
saved at ` + "`bunker login`" + `, or the one given with --public-key (base64, as
` + "`GET /v1/server`" + ` shows it) or named with --key-id (as ` + "`bunker login --json`" + `
prints it). With --file and no login to the server, give one of them.

Entries after the last checkpoint are protected by the chain alone; the
report says how far the signatures reach.`,
		Example: `  bunker audit verify
  bunker audit verify --file audit.jsonl --key-id ed25519:3fa9c1d2e4b5a6f7
  bunker audit verify --json`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ex, err := g.readExport(cmd.Context(), file, pubB64, keyID)
			if err != nil {
				return err
			}
			rep := audit.Verify(ex.entries, ex.checkpoints, ex.trusted)
			if ex.keyProblem != nil {
				rep.Problems = append([]audit.Problem{*ex.keyProblem}, rep.Problems...)
			}
			if rep.Problems == nil {
				rep.Problems = []audit.Problem{}
			}
			res := verifyResult{OK: rep.OK(), Source: ex.source, KeyID: signing.KeyID(ex.trusted), KeySource: ex.keySource, Report: rep}
			if g.json {
				if err := g.printJSON(res); err != nil {
					return err
				}
			} else {
				g.printVerify(res)
			}
			if !rep.OK() {
				return withCode(ExitDamaged, fmt.Errorf("the audit log of %s failed verification: %d problems (listed above)", ex.source, len(rep.Problems)))
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&file, "file", "", "verify this export `file` instead of fetching one from the server")
	fl.StringVar(&pubB64, "public-key", "", "check signatures with this ed25519 public key (`base64`)")
	fl.StringVar(&keyID, "key-id", "", "trust the export's key only if it has this `id` (ed25519:…)")
	return cmd
}

// export is an audit export read for verification, with the key its
// checkpoints are checked against.
type export struct {
	source      string // the server's URL or the file
	trusted     ed25519.PublicKey
	keySource   string // where the trusted key came from
	keyProblem  *audit.Problem
	entries     []audit.Entry
	checkpoints []audit.Checkpoint
}

// readExport reads an audit export from file, or fetches one from the
// server, and settles the key to trust: --public-key, --key-id (the
// export's own key, if it has that id), or the one saved at login.
func (g *globals) readExport(ctx context.Context, file, pubB64, keyID string) (*export, error) {
	ex := &export{source: file}
	if pubB64 != "" {
		if keyID != "" {
			return nil, usageError{errors.New("give --public-key or --key-id, not both")}
		}
		k, err := base64.StdEncoding.DecodeString(pubB64)
		if err != nil || len(k) != ed25519.PublicKeySize {
			return nil, usageError{fmt.Errorf("--public-key: want the base64 of a %d-byte ed25519 public key", ed25519.PublicKeySize)}
		}
		ex.trusted, ex.keySource = k, "--public-key"
	}
	var saved *login
	var c *client.Client
	if file == "" {
		var err error
		if c, saved, err = g.connect(true); err != nil {
			return nil, err
		}
		ex.source = c.URL()
	} else if u, err := g.serverURL(true); err == nil {
		if ls, err := readLogins(); err == nil {
			saved = ls.Servers[u]
		}
	}
	if ex.trusted == nil && keyID == "" {
		if saved == nil || len(saved.PublicKey) != ed25519.PublicKeySize {
			return nil, usageError{errors.New("no trusted key to check the signatures with: log in to the server with `bunker login`, or give --public-key BASE64 or --key-id ID")}
		}
		ex.trusted, ex.keySource = ed25519.PublicKey(saved.PublicKey), "saved at login"
	}
	var r io.Reader
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("read the audit export: %w", err)
		}
		defer f.Close()
		r = f
	} else {
		body, err := c.AuditExport(ctx)
		if err != nil {
			return nil, failed(err, "export the audit log")
		}
		defer body.Close()
		r = body
	}
	pub, entries, cps, err := audit.ReadJSONL(r)
	if err != nil {
		return nil, withCode(ExitDamaged, fmt.Errorf("the audit export of %s cannot be read: %w", ex.source, err))
	}
	ex.entries, ex.checkpoints = entries, cps
	if ex.trusted == nil { // --key-id: trust the header's key if it has that id
		if id := signing.KeyID(pub); id != keyID {
			ex.keyProblem = &audit.Problem{Kind: kindWrongKey, Detail: fmt.Sprintf("the export names key %s, not %s", id, keyID)}
		}
		ex.trusted, ex.keySource = pub, "--key-id"
	} else if !bytes.Equal(pub, ex.trusted) {
		ex.keyProblem = &audit.Problem{Kind: kindWrongKey, Detail: fmt.Sprintf("the export names key %s, not the trusted key %s (%s)", signing.KeyID(pub), signing.KeyID(ex.trusted), ex.keySource)}
	}
	return ex, nil
}

func (g *globals) printVerify(res verifyResult) {
	g.printf("verified %d entries and %d checkpoints of %s against key %s (%s)\n",
		res.Entries, res.Checkpoints, res.Source, res.KeyID, res.KeySource)
	switch {
	case res.Entries == 0:
	case res.LastCheckpoint == 0:
		g.printf("no genuine checkpoint covers any entry: the entries are protected by the hash chain alone\n")
	case res.LastCheckpoint < res.LastSeq:
		g.printf("signed checkpoints cover entries 1 to %d; entries %d to %d are protected by the hash chain alone\n",
			res.LastCheckpoint, res.LastCheckpoint+1, res.LastSeq)
	default:
		g.printf("signed checkpoints cover every entry, 1 to %d\n", res.LastSeq)
	}
	for _, p := range res.Problems {
		g.printf("  seq %d  %s  %s\n", p.Seq, p.Kind, display(p.Detail))
	}
	if res.OK {
		g.printf("no problems found\n")
	}
}
