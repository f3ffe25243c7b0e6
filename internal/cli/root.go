// Package cli implements the bunker command line.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/bunkerhq/bunker/internal/client"
)

// Exit codes, documented in docs/CLI.md.
const (
	ExitOK       = 0 // success
	ExitFailed   = 1 // the command failed; nothing it promised was done
	ExitUsage    = 2 // bad flags or arguments
	ExitPartial  = 3 // finished, but some files could not be read or restored (listed)
	ExitDamaged  = 4 // check found damage (listed)
	ExitNoAccess = 5 // the vault could not be unlocked: wrong passphrase or key file
	ExitDenied   = 6 // the server refused: not logged in, or not allowed
	ExitInfected = 7 // the point is infected: scan found it, or a restore of it was refused
	ExitPending  = 8 // nothing was done yet: the operation waits for an approval request to be confirmed and approved
)

// exitError carries an exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func withCode(code int, err error) error { return &exitError{code: code, err: err} }

// globals are the flags every command shares.
type globals struct {
	vault          string
	server         string
	fingerprint    string
	keyFile        string
	passphraseFile string
	json           bool
	quiet          bool
	verbose        bool
	cpuProfile     string
	memProfile     string
	cpuFile        *os.File

	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// Main runs the command line and returns the process exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	g := &globals{stdin: stdin, stdout: stdout, stderr: stderr}
	root := newRoot(g)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	code := ExitFailed
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	} else if isUsage(err) {
		code = ExitUsage
	}
	if p, ok := client.AsPending(err); ok && g.json {
		_ = json.NewEncoder(stdout).Encode(map[string]any{"message_type": "approval_required", "approval": p.Approval, "message": p.Message, "exit_code": code})
	} else if g.json {
		_ = json.NewEncoder(stdout).Encode(map[string]any{"message_type": "error", "error": err.Error(), "exit_code": code})
	}
	fmt.Fprintf(stderr, "bunker: %v\n", err)
	return code
}

type usageError struct{ error }

func isUsage(err error) bool {
	var u usageError
	return errors.As(err, &u)
}

func newRoot(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "bunker",
		Short: "Backups that survive ransomware and insiders",
		Long: `bunker backs up files, directories and streams into vaults: deduplicated,
compressed, encrypted, and written once so nothing can alter them.

With no vault named, bunker uses a default local vault in your data directory
and a key file in your config directory, both created on first use.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%w (see `%s --help`)", err, c.CommandPath())}
	})
	pf := root.PersistentFlags()
	pf.StringVar(&g.vault, "vault", "", "vault directory (default $BUNKER_VAULT, else the default vault); with --server, the vault's name")
	pf.StringVar(&g.server, "server", "", "bunker server `URL` (default $BUNKER_SERVER); server commands default to the last `bunker login`")
	pf.StringVar(&g.fingerprint, "fingerprint", "", "pin the server's certificate to this `fingerprint` (default $BUNKER_FINGERPRINT, or the one saved at login)")
	pf.StringVar(&g.keyFile, "key-file", "", "key file that unlocks the vault (default $BUNKER_KEY_FILE)")
	pf.StringVar(&g.passphraseFile, "passphrase-file", "", "file holding the vault passphrase (default $BUNKER_PASSPHRASE_FILE; or set $BUNKER_PASSPHRASE)")
	pf.BoolVar(&g.json, "json", false, "print JSON lines for scripts")
	pf.BoolVarP(&g.quiet, "quiet", "q", false, "print no progress")
	pf.BoolVarP(&g.verbose, "verbose", "v", false, "print more detail")
	pf.StringVar(&g.cpuProfile, "cpu-profile", "", "write a CPU profile to this `file` (for performance work)")
	pf.StringVar(&g.memProfile, "mem-profile", "", "write a heap profile to this `file` at exit (for performance work)")
	_ = pf.MarkHidden("cpu-profile")
	_ = pf.MarkHidden("mem-profile")
	root.PersistentPreRunE = func(*cobra.Command, []string) error { return g.startProfiles() }
	root.PersistentPostRunE = func(*cobra.Command, []string) error { return g.stopProfiles() }
	root.AddCommand(
		newInitCmd(g), newBackupCmd(g), newRestoreCmd(g), newPointsCmd(g), newLsCmd(g),
		newDiffCmd(g), newDumpCmd(g), newForgetCmd(g), newPruneCmd(g), newCheckCmd(g), newVerifyCmd(g), newScanCmd(g),
		newStatsCmd(g), newKeyCmd(g), newRepairCmd(g),
		newServerCmd(g), newLoginCmd(g), newLogoutCmd(g), newWhoamiCmd(g),
		newVaultCmd(g), newPointCmd(g), newUserCmd(g), newTokenCmd(g), newRoleCmd(g),
		newAuditCmd(g), newJobCmd(g), newApplyCmd(g), newPlanCmd(g),
		newTeamCmd(g), newApprovalsCmd(g), newApproverCmd(g), newAccessCmd(g),
		newRemoteCmd(g), newPushTargetCmd(g), newPostureCmd(g), newRuleCmd(g), newDeliveryCmd(g), newAgentCmd(g),
	)
	return root
}

// args returns a cobra positional-argument validator that reports usage errors.
func args(v cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if err := v(cmd, a); err != nil {
			return usageError{fmt.Errorf("%w (see `%s --help`)", err, cmd.CommandPath())}
		}
		return nil
	}
}

// printJSON writes v as one JSON line.
func (g *globals) printJSON(v any) error {
	return json.NewEncoder(g.stdout).Encode(v)
}

// printf writes to stdout unless the output is JSON.
func (g *globals) printf(format string, a ...any) {
	if !g.json {
		fmt.Fprintf(g.stdout, format, a...)
	}
}

// notef writes a note for people to stderr.
func (g *globals) notef(format string, a ...any) {
	if !g.json && !g.quiet {
		fmt.Fprintf(g.stderr, format, a...)
	}
}
