package rbac

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Constraint is one separation-of-duties rule that every new binding must
// respect.
type Constraint struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Fixed constraints cannot be relaxed, not even by the server's operator.
	Fixed bool `json:"fixed"`
	// Enabled is false only when the server's operator relaxed it at start.
	Enabled bool `json:"enabled"`
	// conflicts are pairs of roles one principal may not hold on
	// overlapping scopes (global roles overlap everything).
	conflicts [][2]Role
}

// Names of the constraints.
const (
	NoSelfGrant       = "no-self-grant"
	CreateVsRestore   = "create-vs-restore"
	CreateVsDelete    = "create-vs-delete"
	SecurityAdminOnly = "security-admin-only"
)

// DefaultConstraints returns every constraint, all enabled.
func DefaultConstraints() []Constraint {
	return []Constraint{
		{Name: NoSelfGrant, Fixed: true, Enabled: true,
			Description: "nobody creates, changes or removes a role binding of their own"},
		{Name: CreateVsRestore, Enabled: true,
			Description: "no principal both adds points to a vault (backup-operator) and restores from it (restore-operator)",
			conflicts:   [][2]Role{{BackupOperator, RestoreOperator}}},
		{Name: CreateVsDelete, Enabled: true,
			Description: "no principal both adds points to a vault (backup-operator) and deletes them or sets its policy (vault-admin)",
			conflicts:   [][2]Role{{BackupOperator, VaultAdmin}}},
		{Name: SecurityAdminOnly, Enabled: true,
			Description: "a security-admin holds no role that touches vault data (backup-operator, restore-operator, vault-admin)",
			conflicts:   [][2]Role{{SecurityAdmin, BackupOperator}, {SecurityAdmin, RestoreOperator}, {SecurityAdmin, VaultAdmin}}},
	}
}

// Constraints returns the default constraints with the named ones relaxed.
// A fixed or unknown name is an error.
func Constraints(relaxed []string) ([]Constraint, error) {
	cs := DefaultConstraints()
	for _, name := range relaxed {
		i := slices.IndexFunc(cs, func(c Constraint) bool { return c.Name == name })
		switch {
		case i < 0:
			return nil, fmt.Errorf("unknown constraint %q (constraints: %s)", name, constraintNames(cs))
		case cs[i].Fixed:
			return nil, fmt.Errorf("constraint %q cannot be relaxed", name)
		}
		cs[i].Enabled = false
	}
	return cs, nil
}

func constraintNames(cs []Constraint) string {
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.Name
	}
	return strings.Join(names, ", ")
}

// ErrConstraint is wrapped by every refusal of CheckBinding.
var ErrConstraint = errors.New("separation of duties")

// CheckBinding decides whether actor may give b to b.Principal, who already
// holds existing. It checks the shape of the binding and every enabled
// constraint, and names the constraint that refuses it.
func CheckBinding(cs []Constraint, actor string, b Binding, existing []Binding) error {
	if err := b.Validate(); err != nil {
		return err
	}
	if actor == b.Principal {
		return fmt.Errorf("%w: %s: %s may not bind a role to itself; ask another security-admin", ErrConstraint, NoSelfGrant, actor)
	}
	for _, c := range cs {
		if !c.Enabled {
			continue
		}
		for _, pair := range c.conflicts {
			for _, e := range existing {
				if conflict(pair, b, e) {
					return fmt.Errorf("%w: %s: %s already holds %s on %s, which may not be combined with %s on %s (%s)",
						ErrConstraint, c.Name, b.Principal, e.Role, scopeName(e.Vault), b.Role, scopeName(b.Vault), c.Description)
				}
			}
		}
	}
	for _, e := range existing {
		if e.Role == b.Role && e.Vault == b.Vault {
			return fmt.Errorf("%s already holds %s on %s", b.Principal, b.Role, scopeName(b.Vault))
		}
	}
	return nil
}

// CheckUnbind decides whether actor may remove b.
func CheckUnbind(actor string, b Binding) error {
	if actor == b.Principal {
		return fmt.Errorf("%w: %s: %s may not remove a role binding of its own; ask another security-admin", ErrConstraint, NoSelfGrant, actor)
	}
	return nil
}

func conflict(pair [2]Role, a, b Binding) bool {
	roles := (a.Role == pair[0] && b.Role == pair[1]) || (a.Role == pair[1] && b.Role == pair[0])
	return roles && overlaps(a.Vault, b.Vault)
}

func scopeName(v string) string {
	if v == AllVaults {
		return "all vaults"
	}
	return "vault " + v
}

// Validate checks a binding's fields.
func (b Binding) Validate() error {
	if _, err := ParseRole(string(b.Role)); err != nil {
		return err
	}
	if b.Principal == "" {
		return errors.New("binding names no principal")
	}
	if b.Vault == "" {
		return fmt.Errorf("binding of %s names no vault: give a vault name or %q for all vaults", b.Role, AllVaults)
	}
	if b.Role.Global() && b.Vault != AllVaults {
		return fmt.Errorf("%s is a server-wide role: bind it to all vaults (%q), not to vault %s", b.Role, AllVaults, b.Vault)
	}
	if b.BypassGovernance && b.Role != VaultAdmin {
		return fmt.Errorf("the governance bypass option belongs to vault-admin bindings, not %s", b.Role)
	}
	return nil
}
