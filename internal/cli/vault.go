package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/term"

	"github.com/bunkerhq/bunker/internal/crypto"
	"github.com/bunkerhq/bunker/internal/keys"
	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/storage"
	"github.com/bunkerhq/bunker/internal/storage/local"
	"github.com/bunkerhq/bunker/internal/userdirs"
)

// errWrongSecret is shown when no key slot opens with the secret given.
var errWrongSecret = errors.New("wrong passphrase or key file: no key slot of this vault opens with it")

// defaultVaultPath is where the default local vault lives.
func defaultVaultPath() (string, error) {
	p, err := userdirs.Data("bunker", "vault")
	if err != nil {
		return "", fmt.Errorf("the default vault: %w (name a vault with --vault)", err)
	}
	return p, nil
}

// defaultKeyFilePath is where the default vault's key file lives.
func defaultKeyFilePath() (string, error) {
	p, err := userdirs.Config("bunker", "vault.key")
	if err != nil {
		return "", fmt.Errorf("the default key file: %w (name one with --key-file)", err)
	}
	return p, nil
}

// vaultPath resolves the vault location and whether it is the default one.
func (g *globals) vaultPath() (string, bool, error) {
	if g.vault != "" {
		return g.vault, false, nil
	}
	if v := os.Getenv("BUNKER_VAULT"); v != "" {
		return v, false, nil
	}
	p, err := defaultVaultPath()
	return p, true, err
}

// keyFilePath resolves the key file, falling back to the default key file
// for the default vault.
func (g *globals) keyFilePath(isDefault bool) (string, error) {
	if g.keyFile != "" {
		return g.keyFile, nil
	}
	if v := os.Getenv("BUNKER_KEY_FILE"); v != "" {
		return v, nil
	}
	if isDefault && g.passphraseFile == "" && os.Getenv("BUNKER_PASSPHRASE") == "" && os.Getenv("BUNKER_PASSPHRASE_FILE") == "" {
		return defaultKeyFilePath()
	}
	return "", nil
}

// passSource says where a passphrase may come from before the terminal.
type passSource struct {
	file string // a file holding it
	env  string // an environment variable holding it
}

// unlockSource is where the passphrase that unlocks a vault comes from.
func (g *globals) unlockSource() passSource {
	file := g.passphraseFile
	if file == "" {
		file = os.Getenv("BUNKER_PASSPHRASE_FILE")
	}
	return passSource{file: file, env: "BUNKER_PASSPHRASE"}
}

// passphrase returns the passphrase from src, or from a terminal prompt;
// confirm asks twice. It returns nil when none is available.
func (g *globals) passphrase(src passSource, prompt string, confirm bool) ([]byte, error) {
	if src.file != "" {
		data, err := os.ReadFile(src.file)
		if err != nil {
			return nil, fmt.Errorf("read passphrase file: %w", err)
		}
		return checkPassphrase(bytes.TrimRight(data, "\r\n"))
	}
	if v, ok := os.LookupEnv(src.env); ok {
		return checkPassphrase([]byte(v))
	}
	f, ok := g.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, nil
	}
	fmt.Fprint(g.stderr, prompt)
	pw, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(g.stderr)
	if err != nil {
		return nil, fmt.Errorf("read passphrase: %w", err)
	}
	if confirm {
		fmt.Fprint(g.stderr, "Enter the passphrase again: ")
		again, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(g.stderr)
		if err != nil {
			return nil, fmt.Errorf("read passphrase: %w", err)
		}
		if !bytes.Equal(pw, again) {
			return nil, errors.New("the passphrases do not match")
		}
	}
	return checkPassphrase(pw)
}

func checkPassphrase(p []byte) ([]byte, error) {
	if len(p) == 0 {
		return nil, errors.New("the passphrase is empty")
	}
	return p, nil
}

// secret gathers what unlocks a vault: a key file's secret or a passphrase.
type secret struct {
	keyFile    []byte
	passphrase []byte
}

func (g *globals) unlockSecret(isDefault bool) (secret, error) {
	var s secret
	kf, err := g.keyFilePath(isDefault)
	if err != nil {
		return s, err
	}
	if kf != "" {
		if s.keyFile, err = keys.ReadKeyFile(kf); err != nil {
			return s, err
		}
		return s, nil
	}
	if s.passphrase, err = g.passphrase(g.unlockSource(), "Vault passphrase: ", false); err != nil {
		return s, err
	}
	if s.passphrase == nil {
		return s, errors.New("no key given: use --key-file, --passphrase-file or $BUNKER_PASSPHRASE, or run on a terminal to be asked")
	}
	return s, nil
}

// unlock finds the key slot that opens with s and returns the master key.
func unlock(ctx context.Context, be storage.Backend, cfg repo.Config, s secret) (crypto.MasterKey, error) {
	m, err := keys.Unlock(ctx, be, cfg.ID, keys.Secret{KeyFile: s.keyFile, Passphrase: s.passphrase})
	if errors.Is(err, keys.ErrWrongSecret) {
		return m, withCode(ExitNoAccess, errWrongSecret)
	}
	return m, err
}

// vault is an open, unlocked vault.
type vault struct {
	path   string
	be     *local.Backend
	repo   *repo.Repository
	master crypto.MasterKey
	unlock storage.Unlocker
}

func (v *vault) Close() {
	if v.repo != nil {
		v.repo.Close()
	}
	if v.unlock != nil {
		v.unlock.Unlock()
	}
	v.be.Close()
}

// staleTemp is the age after which a temporary in the vault is known to be
// left by a writer that died: a live writer renames its temporary within the
// time one pack takes to upload.
const staleTemp = time.Hour

// lockMode says which process lock a command takes.
type lockMode int

const (
	lockNone lockMode = iota
	lockShared
	lockExclusive
)

// openVault opens and unlocks the vault; with create set, the default vault
// is created on first use.
func (g *globals) openVault(ctx context.Context, mode lockMode, create bool) (*vault, error) {
	path, isDefault, err := g.vaultPath()
	if err != nil {
		return nil, err
	}
	if isDefault && create {
		if _, err := os.Stat(filepath.Join(path, "config")); errors.Is(err, os.ErrNotExist) {
			if err := g.createDefaultVault(ctx, path); err != nil {
				return nil, err
			}
		}
	}
	be, err := local.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no vault at %s: create one with `bunker init --vault %s`", path, path)
		}
		return nil, err
	}
	v := &vault{path: path, be: be}
	if err := g.unlockVault(ctx, v, isDefault, mode); err != nil {
		v.Close()
		return nil, err
	}
	return v, nil
}

func (g *globals) unlockVault(ctx context.Context, v *vault, isDefault bool, mode lockMode) error {
	cfg, err := repo.ReadConfig(ctx, v.be)
	if err != nil {
		return err
	}
	sec, err := g.unlockSecret(isDefault)
	if err != nil {
		return err
	}
	if v.master, err = unlock(ctx, v.be, cfg, sec); err != nil {
		return err
	}
	if mode != lockNone {
		if v.unlock, err = v.be.Lock(ctx, mode == lockExclusive); err != nil {
			return fmt.Errorf("lock vault: %w", err)
		}
		// Temporaries of writers that died are removed; with the exclusive
		// lock no writer can be running, otherwise only old ones are.
		age := staleTemp
		if mode == lockExclusive {
			age = 0
		}
		if _, err := v.be.CleanTemp(age); err != nil {
			return fmt.Errorf("clean temporaries: %w", err)
		}
	}
	if v.repo, err = repo.Open(ctx, v.be, v.master, repo.Options{}); err != nil {
		return err
	}
	return nil
}

func (g *globals) createDefaultVault(ctx context.Context, path string) error {
	kf, err := g.keyFilePath(true)
	if err != nil {
		return err
	}
	if kf == "" {
		return fmt.Errorf("no vault at %s yet: create it with `bunker init`", path)
	}
	if err := initVault(ctx, path, kf, nil); err != nil {
		return err
	}
	g.notef("created the default vault at %s\nits key file is %s: keep a copy somewhere safe, without it the backups cannot be read\n", path, kf)
	return nil
}

// initVault creates a vault at path with one key slot: a key file (created
// if missing) or a passphrase.
func initVault(ctx context.Context, path, keyFile string, passphrase []byte) error {
	be, err := local.Create(path)
	if err != nil {
		return err
	}
	defer be.Close()
	cfg, err := repo.NewConfig()
	if err != nil {
		return err
	}
	var sec []byte
	if keyFile != "" {
		if sec, err = keys.ReadOrCreateKeyFile(keyFile); err != nil {
			return err
		}
	}
	_, err = repo.Create(ctx, be, cfg, func(master crypto.MasterKey, id string) (*keys.Slot, error) {
		if sec != nil {
			return keys.NewKeyFileSlot(master, id, sec, "initial key file")
		}
		return keys.NewPassphraseSlot(master, id, passphrase, keys.DefaultKDFParams(), "initial passphrase")
	})
	return err
}
