package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/archiver"
	"github.com/bunkerhq/bunker/internal/filter"
	"github.com/bunkerhq/bunker/internal/remote"
	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/ui"
)

type backupFlags struct {
	excludes      []string
	excludeFiles  []string
	excludeCaches bool
	oneFS         bool
	stdin         bool
	stdinName     string
	tags          []string
	host          string
	parent        string
	force         bool
}

func newBackupCmd(g *globals) *cobra.Command {
	var f backupFlags
	cmd := &cobra.Command{
		Use:   "backup [flags] PATH...",
		Short: "Back up files and directories, or a stream from stdin",
		Long: `Back up files and directories into a new recovery point.

Only new and changed data is stored: files whose size, mtime, ctime and inode
match the latest point of the same host and paths are not read again, and
chunks the vault already holds are not stored again.

Unreadable files are reported and skipped; the backup then exits with code 3.`,
		Example: `  bunker backup ~/work
  bunker backup --exclude '*.tmp' --exclude-caches /home
  pg_dump mydb | bunker backup --stdin --stdin-name mydb.sql`,
		Args: func(cmd *cobra.Command, a []string) error {
			if f.stdin && len(a) > 0 {
				return usageError{errors.New("--stdin takes no paths")}
			}
			if !f.stdin && len(a) == 0 {
				return usageError{errors.New("name at least one path to back up, or use --stdin")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, paths []string) error { return runBackup(cmd.Context(), g, &f, paths) },
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&f.excludes, "exclude", "e", nil, "leave out paths matching a gitignore-style `pattern` (repeatable)")
	fl.StringArrayVar(&f.excludeFiles, "exclude-file", nil, "read exclude patterns from a `file` (repeatable)")
	fl.BoolVar(&f.excludeCaches, "exclude-caches", false, "leave out directories that hold a CACHEDIR.TAG")
	fl.BoolVarP(&f.oneFS, "one-file-system", "x", false, "do not cross filesystem boundaries")
	fl.BoolVar(&f.stdin, "stdin", false, "back up what is read from standard input")
	fl.StringVar(&f.stdinName, "stdin-name", "stdin", "file `name` for --stdin data")
	fl.StringArrayVar(&f.tags, "tag", nil, "add a `tag` to the point (repeatable)")
	fl.StringVar(&f.host, "host", "", "record this host name (default: this machine's)")
	fl.StringVar(&f.parent, "parent", "", "compare with this `point` instead of the latest of the same host and paths")
	fl.BoolVar(&f.force, "force", false, "read every file, even when unchanged since the parent point")
	return cmd
}

func buildExcludes(f *backupFlags) (*filter.Matcher, error) {
	patterns := slices.Clone(f.excludes)
	for _, file := range f.excludeFiles {
		p, err := filter.ReadFile(file)
		if err != nil {
			return nil, err
		}
		patterns = append(patterns, p...)
	}
	if len(patterns) == 0 {
		return nil, nil
	}
	return filter.New(patterns)
}

func runBackup(ctx context.Context, g *globals, f *backupFlags, paths []string) error {
	m, err := buildExcludes(f)
	if err != nil {
		return usageError{err}
	}
	if g.remoteMode() {
		return runRemoteBackup(ctx, g, f, m, paths)
	}
	v, err := g.openVault(ctx, lockShared, true)
	if err != nil {
		return err
	}
	defer v.Close()
	if err := v.loadIndex(ctx); err != nil {
		return err
	}
	if n, err := v.repo.RecoverPacks(ctx); err != nil {
		return err
	} else if n > 0 && g.verbose {
		g.notef("re-used %d packs left by an interrupted backup\n", n)
	}
	host := f.host
	if host == "" {
		host, _ = os.Hostname()
	}
	r := g.renderer()
	opts := archiver.Options{
		Excludes: m, ExcludeCaches: f.excludeCaches, OneFileSystem: f.oneFS,
		Hostname: host, Tags: f.tags, Progress: r.Progress(), Scan: !f.stdin && !g.quiet,
	}
	if !f.stdin && !f.force {
		if opts.Parent, err = findParent(ctx, v.repo, f.parent, host, paths); err != nil {
			return err
		}
	}
	arch, err := archiver.New(v.repo, opts)
	if err != nil {
		return err
	}
	return g.runArchiver(ctx, arch, r, f, paths, "vault "+v.path)
}

// runArchiver runs a backup with its progress display and summary.
func (g *globals) runArchiver(ctx context.Context, arch *archiver.Archiver, r *ui.Renderer, f *backupFlags, paths []string, where string) error {
	r.Start(ctx)
	began := time.Now()
	var p *repo.Point
	var fileErrs []archiver.FileError
	var err error
	if f.stdin {
		p, err = arch.BackupReader(ctx, f.stdinName, g.stdin)
	} else {
		p, fileErrs, err = arch.Backup(ctx, paths)
	}
	r.Stop()
	if err != nil {
		return serverError(err)
	}
	if err := g.backupSummary(p, time.Since(began), where); err != nil {
		return err
	}
	if len(fileErrs) > 0 {
		return withCode(ExitPartial, fmt.Errorf("point %s saved, but %d files could not be read (listed above)", p.ID.Short(), len(fileErrs)))
	}
	return nil
}

// runRemoteBackup backs up into a vault on a bunker server: this host
// chunks, names and compresses, and uploads only what the vault lacks; the
// server checks every blob, seals it, and stamps the point.
func runRemoteBackup(ctx context.Context, g *globals, f *backupFlags, m *filter.Matcher, paths []string) error {
	name, err := g.vaultName()
	if err != nil {
		return err
	}
	c, _, err := g.connect(false)
	if err != nil {
		return err
	}
	host := f.host
	if host == "" {
		host, _ = os.Hostname()
	}
	req := api.SessionRequest{Hostname: host, Tags: f.tags, Parent: f.parent}
	if f.stdin {
		req.Paths = []string{"/" + f.stdinName}
	} else if req.Paths, err = archiver.AbsPaths(paths); err != nil {
		return err
	}
	b, err := remote.StartBackup(ctx, c, name, req)
	if err != nil {
		return serverError(err)
	}
	defer b.Close(context.WithoutCancel(ctx))
	r := g.renderer()
	opts := archiver.Options{
		Excludes: m, ExcludeCaches: f.excludeCaches, OneFileSystem: f.oneFS,
		Hostname: host, Tags: f.tags, Progress: r.Progress(), Scan: !f.stdin && !g.quiet,
	}
	if !f.stdin && !f.force {
		opts.Parent = b.Parent()
	}
	arch, err := archiver.New(b, opts)
	if err != nil {
		return err
	}
	return g.runArchiver(ctx, arch, r, f, paths, fmt.Sprintf("vault %s on %s", name, c.URL()))
}

// findParent picks the point to compare with: the one named, or the latest
// point of the same host and paths.
func findParent(ctx context.Context, r *repo.Repository, ref, host string, paths []string) (*repo.Point, error) {
	points, err := r.Points(ctx)
	if err != nil {
		return nil, err
	}
	if ref != "" {
		return repo.FindPoint(points, ref)
	}
	abs, err := archiver.AbsPaths(paths)
	if err != nil {
		return nil, err
	}
	for i := len(points) - 1; i >= 0; i-- {
		p := points[i]
		if p.Hostname == host && slices.Equal(p.Paths, abs) {
			return p, nil
		}
	}
	return nil, nil
}

func (g *globals) backupSummary(p *repo.Point, d time.Duration, where string) error {
	s := p.Summary
	sum := ui.Summary{
		FilesNew: s.FilesNew, FilesChanged: s.FilesChanged, FilesUnchanged: s.FilesUnchanged,
		DirsNew: s.DirsNew, DirsChanged: s.DirsChanged, DirsUnchanged: s.DirsUnchanged, Errors: s.Errors, BytesProcessed: s.BytesRead,
		BytesAdded: s.BytesAdded, BytesStored: s.BytesStored, Duration: d, PointID: p.ID.String(),
	}
	if g.json {
		return sum.WriteJSON(g.stdout)
	}
	if g.quiet {
		return nil
	}
	if err := sum.WriteText(g.stdout); err != nil {
		return err
	}
	g.printf("point %s saved in %s\n", p.ID.Short(), where)
	return nil
}

// renderer returns the progress display for the global output flags.
func (g *globals) renderer() *ui.Renderer {
	mode := ui.ModeAuto
	switch {
	case g.json:
		mode = ui.ModeJSON
	case g.quiet:
		mode = ui.ModeQuiet
	}
	w := g.stderr
	if g.json {
		w = g.stdout
	}
	return ui.NewRenderer(w, ui.Options{Mode: mode})
}
