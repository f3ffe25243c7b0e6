package cli

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/rbac"
	"github.com/bunkerhq/bunker/internal/store"
)

func newRoleCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "role",
		Aliases: []string{"roles"},
		Short:   "Give principals roles, within the separation of duties",
		Long: `Roles decide what a principal may do; a binding gives a principal a role on
one vault or on all of them ("*"). The roles are backup-operator,
restore-operator, vault-admin, approver, auditor and security-admin
(` + "`bunker role roles`" + ` lists what each allows). Approver, auditor and
security-admin always apply to the whole server.

Separation-of-duties constraints (` + "`bunker role constraints`" + `) refuse bindings
that would let one principal both add points to a vault and restore from or
delete them, and keep security-admins away from vault data; nobody binds a
role to themselves. Binding and unbinding need the security-admin role.`,
		Example: `  bunker role bind web1 backup-operator --vault prod
  bunker role bind ann vault-admin
  bunker role list --principal ann`,
	}
	cmd.AddCommand(newRoleBindCmd(g), newRoleUnbindCmd(g), newRoleListCmd(g), newRoleConstraintsCmd(g), newRoleRolesCmd(g))
	return cmd
}

// scopeText names a binding's scope for people.
func scopeText(role rbac.Role, vault string) string {
	if role.Global() && vault == rbac.AllVaults {
		return "the whole server"
	}
	if vault == rbac.AllVaults {
		return "all vaults"
	}
	return "vault " + display(vault)
}

func newRoleBindCmd(g *globals) *cobra.Command {
	var vault string
	var bypass bool
	cmd := &cobra.Command{
		Use:   "bind PRINCIPAL ROLE [--vault NAME|*] [--bypass-governance]",
		Short: "Give a principal a role on one vault or all",
		Long: `Give PRINCIPAL the role ROLE on the vault --vault names, or on all vaults
(the default, or --vault '*'), present and future. Creating vaults needs
vault-admin on all vaults. --bypass-governance lets a vault-admin delete or
shorten points of governance-locked vaults before they expire.

A binding that breaks a separation-of-duties constraint is refused (exit
code 6) with the constraint's name.`,
		Example: `  bunker role bind web1 backup-operator --vault prod
  bunker role bind ops restore-operator --vault prod
  bunker role bind ann vault-admin --bypass-governance
  bunker role bind eve auditor`,
		Args: args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, a []string) error {
			role, err := rbac.ParseRole(a[1])
			if err != nil {
				return usageError{err}
			}
			if vault == "" {
				vault = rbac.AllVaults
			}
			if bypass && role != rbac.VaultAdmin {
				return usageError{errors.New("--bypass-governance is an option of vault-admin bindings only")}
			}
			c, err := g.dial()
			if err != nil {
				return err
			}
			b, err := c.Bind(cmd.Context(), api.BindingRequest{Principal: a[0], Role: string(role), Vault: vault, BypassGovernance: bypass})
			if err != nil {
				return failed(err, "give %s the role %s on %s", a[0], role, scopeText(role, vault))
			}
			if g.json {
				return g.printJSON(b)
			}
			extra := ""
			if b.BypassGovernance {
				extra = ", with the governance bypass"
			}
			g.printf("gave %s the role %s on %s%s (binding %d)\n", display(b.Principal), b.Role, scopeText(b.Role, b.Vault), extra, b.ID)
			return nil
		},
	}
	cmd.Flags().StringVar(&vault, "vault", "", "the vault `name` the role applies to, or * for all vaults (default *)")
	cmd.Flags().BoolVar(&bypass, "bypass-governance", false, "let this vault-admin delete or shorten governance-locked points early")
	return cmd
}

func newRoleUnbindCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "unbind BINDING_ID",
		Short: "Remove a role binding",
		Long: `Remove a role binding by its id (see ` + "`bunker role list`" + `). The principal
loses the role at its next request. Nobody removes a binding of their own.`,
		Example: `  bunker role unbind 7`,
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			id, err := strconv.ParseInt(a[0], 10, 64)
			if err != nil || id <= 0 {
				return usageError{fmt.Errorf("binding id %q: give the number `bunker role list` shows", a[0])}
			}
			ctx := cmd.Context()
			c, err := g.dial()
			if err != nil {
				return err
			}
			// Look the binding up first, to say what was removed.
			var gone *store.Binding
			if bs, err := c.Bindings(ctx, ""); err == nil {
				for i := range bs {
					if bs[i].ID == id {
						gone = &bs[i]
					}
				}
			}
			if err := c.Unbind(ctx, id); err != nil {
				return failed(err, "remove role binding %d", id)
			}
			if g.json {
				if gone != nil {
					return g.printJSON(gone)
				}
				return g.printJSON(map[string]any{"status": "removed", "id": id})
			}
			if gone != nil {
				g.printf("removed binding %d: %s no longer has %s on %s\n", id, display(gone.Principal), gone.Role, scopeText(gone.Role, gone.Vault))
			} else {
				g.printf("removed binding %d\n", id)
			}
			return nil
		},
	}
}

func newRoleListCmd(g *globals) *cobra.Command {
	var principal string
	cmd := &cobra.Command{
		Use:   "list [--principal NAME]",
		Short: "List role bindings",
		Long: `List role bindings, of everyone or of --principal: id, principal, role, scope
("*": all vaults), governance bypass, and who made them when. Needs the
security-admin or auditor role. --json prints an array of bindings.`,
		Example: `  bunker role list
  bunker role list --principal web1 --json`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.dial()
			if err != nil {
				return err
			}
			bs, err := c.Bindings(cmd.Context(), principal)
			if err != nil {
				return failed(err, "list role bindings")
			}
			if g.json {
				if bs == nil {
					bs = []store.Binding{}
				}
				return g.printJSON(bs)
			}
			tw := g.newTable("ID", "PRINCIPAL", "ROLE", "VAULT", "BYPASS", "CREATED", "BY")
			for _, b := range bs {
				row(tw, strconv.FormatInt(b.ID, 10), b.Principal, string(b.Role), b.Vault, yesNo(b.BypassGovernance), when(b.CreatedAt), b.CreatedBy)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&principal, "principal", "", "only the bindings of this `principal`")
	return cmd
}

func newRoleConstraintsCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "constraints",
		Short: "List the separation-of-duties constraints",
		Long: `List the separation-of-duties constraints every new binding must respect:
name, whether it is enabled (the server's operator can relax some with
` + "`bunker server --relax-constraint`" + `), whether it is fixed (cannot be relaxed),
and what it forbids.`,
		Example: `  bunker role constraints`,
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.dial()
			if err != nil {
				return err
			}
			cs, err := c.Constraints(cmd.Context())
			if err != nil {
				return failed(err, "list constraints")
			}
			if g.json {
				if cs == nil {
					cs = []rbac.Constraint{}
				}
				return g.printJSON(cs)
			}
			tw := g.newTable("NAME", "ENABLED", "FIXED", "DESCRIPTION")
			for _, k := range cs {
				row(tw, k.Name, yesNo(k.Enabled), yesNo(k.Fixed), k.Description)
			}
			return tw.Flush()
		},
	}
}

func newRoleRolesCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "roles",
		Short: "List the roles and what each allows",
		Long: `List every role with its scope (global roles apply to the whole server,
the others to the vaults they are bound on) and the permissions it grants.
governance.bypass is not granted by a role: it is an option of a
vault-admin binding (` + "`bunker role bind --bypass-governance`" + `).`,
		Example: `  bunker role roles`,
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.dial()
			if err != nil {
				return err
			}
			rs, err := c.Roles(cmd.Context())
			if err != nil {
				return failed(err, "list roles")
			}
			if g.json {
				if rs == nil {
					rs = []api.Role{}
				}
				return g.printJSON(rs)
			}
			tw := g.newTable("ROLE", "SCOPE", "PERMISSIONS")
			for _, r := range rs {
				scope := "vaults"
				if r.Global {
					scope = "server"
				}
				ps := make([]string, len(r.Permissions))
				for i, p := range r.Permissions {
					ps[i] = string(p)
				}
				row(tw, string(r.Role), scope, strings.Join(ps, " "))
			}
			return tw.Flush()
		},
	}
}
