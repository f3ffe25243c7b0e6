package server

import (
	"context"
	"fmt"
	"net/url"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/bunkerhq/bunker/internal/ident"
	"github.com/bunkerhq/bunker/internal/storage"
	"github.com/bunkerhq/bunker/internal/storage/local"
	"github.com/bunkerhq/bunker/internal/storage/s3"
)

// LocalStorage is the name of the storage target under the data directory,
// which every server has.
const LocalStorage = "local"

// ParseS3Target reads a storage target as `bunker server --s3` takes it:
//
//	NAME=s3://BUCKET[/PREFIX]?endpoint=HOST:PORT&region=R&credentials=FILE&tls=off&ca=FILE&lookup=path
//
// Only endpoint is required; credentials come from the file (see
// s3.LoadCredentials) or the environment, never from the URL.
func ParseS3Target(s string) (string, s3.Config, error) {
	var cfg s3.Config
	name, raw, ok := strings.Cut(s, "=")
	if !ok || !ident.Name(name) || name == LocalStorage {
		return "", cfg, fmt.Errorf("storage target %q: want NAME=s3://bucket/prefix?endpoint=host:port, NAME of lower-case letters, digits, '.', '_' or '-' (and not %q)", clip(s), LocalStorage)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "s3" || u.User != nil || u.Fragment != "" {
		return "", cfg, fmt.Errorf("storage target %s: %q is not an s3://bucket/prefix?… URL", name, clip(raw))
	}
	if cfg.Bucket, cfg.Prefix, err = s3.ParseLocation("s3://" + u.Host + u.Path); err != nil {
		return "", cfg, fmt.Errorf("storage target %s: %w", name, err)
	}
	for k, vs := range u.Query() {
		if len(vs) != 1 {
			return "", cfg, fmt.Errorf("storage target %s: give %s once", name, k)
		}
		v := vs[0]
		switch k {
		case "endpoint":
			cfg.Endpoint = v
		case "region":
			cfg.Region = v
		case "credentials":
			cfg.CredentialsFile = v
		case "ca":
			cfg.CAFile = v
		case "tls":
			on, err := strconv.ParseBool(strings.NewReplacer("on", "true", "off", "false").Replace(v))
			if err != nil {
				return "", cfg, fmt.Errorf("storage target %s: tls=%q: want on or off", name, clip(v))
			}
			cfg.DisableTLS = !on
		case "lookup":
			switch s3.Lookup(v) {
			case s3.LookupPath, s3.LookupVirtualHost:
				cfg.Lookup = s3.Lookup(v)
			case "auto":
			default:
				return "", cfg, fmt.Errorf("storage target %s: lookup=%q: want path, virtual-host or auto", name, clip(v))
			}
		default:
			return "", cfg, fmt.Errorf("storage target %s: unknown setting %q (endpoint, region, credentials, ca, tls, lookup)", name, clip(k))
		}
	}
	if cfg.Endpoint == "" {
		return "", cfg, fmt.Errorf("storage target %s: endpoint=host:port is required", name)
	}
	if err := cfg.Validate(); err != nil {
		return "", cfg, fmt.Errorf("storage target %s: %w", name, err)
	}
	return name, cfg, nil
}

// vaultLocation is where a vault's storage is: a target and a place in it.
// It is stored as the vault's Location: the directory under the data
// directory for the local target, "TARGET:PREFIX" for an S3 one.
type vaultLocation struct {
	target string
	path   string
}

func parseVaultLocation(backend, loc string) (vaultLocation, error) {
	switch backend {
	case "local":
		return vaultLocation{target: LocalStorage, path: loc}, nil
	case "s3":
		t, p, ok := strings.Cut(loc, ":")
		if !ok {
			return vaultLocation{}, fmt.Errorf("vault location %q: want TARGET:PREFIX", loc)
		}
		return vaultLocation{target: t, path: p}, nil
	}
	return vaultLocation{}, fmt.Errorf("unknown storage backend %q", backend)
}

// openBackend opens the storage at loc; create makes it first.
func (s *Server) openBackend(ctx context.Context, backend string, loc vaultLocation, create bool) (storage.Backend, error) {
	switch backend {
	case "local":
		dir := loc.path
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(s.cfg.DataDir, dir)
		}
		// Retention is recorded and the immutable attribute set where the
		// process may; elsewhere only the server enforces the lock.
		opts := []local.Option{local.WithRetention()}
		if create {
			return local.Create(dir, opts...)
		}
		return local.Open(dir, opts...)
	case "s3":
		cfg, ok := s.cfg.Storages[loc.target]
		if !ok {
			return nil, fmt.Errorf("storage target %q is not configured on this server (start it with --s3 %s=s3://…)", loc.target, loc.target)
		}
		cfg.Prefix = loc.path
		return s3.Open(ctx, cfg)
	}
	return nil, fmt.Errorf("unknown storage backend %q", backend)
}

// newVaultLocation picks where a new vault with storage id lives on target.
func (s *Server) newVaultLocation(target, id string) (backend string, loc vaultLocation, err error) {
	if target == "" || target == LocalStorage {
		return "local", vaultLocation{target: LocalStorage, path: filepath.Join("vaults", id)}, nil
	}
	cfg, ok := s.cfg.Storages[target]
	if !ok {
		names := []string{LocalStorage}
		for n := range s.cfg.Storages {
			names = append(names, n)
		}
		return "", vaultLocation{}, badRequest("no storage target %q on this server (targets: %s)", clip(target), strings.Join(names, ", "))
	}
	return "s3", vaultLocation{target: target, path: path.Join(cfg.Prefix, "vaults", id)}, nil
}

// String is how a location is stored.
func (l vaultLocation) String() string {
	if l.target == LocalStorage {
		return l.path
	}
	return l.target + ":" + l.path
}

// retentionSupport says whether a backend can hold objects under
// retention itself, and if not, why.
func retentionSupport(ctx context.Context, be storage.Backend) (bool, string) {
	r, ok := be.(storage.Retainer)
	if !ok {
		return false, "this storage backend has no retention of its own"
	}
	yes, why, err := r.RetentionSupported(ctx)
	if err != nil {
		return false, err.Error()
	}
	return yes, why
}
