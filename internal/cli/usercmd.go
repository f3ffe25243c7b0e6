package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/rbac"
	"github.com/bunkerhq/bunker/internal/store"
)

func newUserCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Manage users and service accounts of a bunker server",
		Long: `Manage the principals of a bunker server: users, who log in with a password
(and a TOTP code once they enroll one), and service accounts, which
authenticate with API tokens only (one per protected host, typically).

Creating, disabling and resetting principals needs the security-admin role;
changing your own password and enrolling your own TOTP factor does not. A
new principal has no roles: give it one with ` + "`bunker role bind`" + `.`,
		Example: `  bunker user create ann
  bunker user create web1 --service
  bunker user list`,
	}
	totp := &cobra.Command{
		Use:   "totp",
		Short: "Enroll or reset a TOTP second factor",
	}
	totp.AddCommand(newUserTOTPEnrollCmd(g), newUserTOTPResetCmd(g))
	cmd.AddCommand(newUserCreateCmd(g), newUserListCmd(g), newUserDisableCmd(g, true), newUserDisableCmd(g, false),
		newUserPasswdCmd(g), totp)
	return cmd
}

// bindingText writes a binding as role@scope, with "+bypass" for the
// governance bypass.
func bindingText(b rbac.Binding) string {
	s := string(b.Role) + "@" + b.Vault
	if b.BypassGovernance {
		s += "+bypass"
	}
	return s
}

func newUserCreateCmd(g *globals) *cobra.Command {
	var service bool
	var passwordFile string
	cmd := &cobra.Command{
		Use:   "create NAME [--service] [--password-file FILE]",
		Short: "Create a user or a service account",
		Long: `Create a user, who logs in with a password, or with --service a service
account, which has no password and authenticates with API tokens
(` + "`bunker token create --principal NAME`" + `).

A user's password (at least 12 characters) is read from --password-file,
$BUNKER_NEW_PASSWORD, or asked twice on the terminal. Needs the
security-admin role.`,
		Example: `  bunker user create ann --password-file /run/secrets/ann
  bunker user create web1 --service
  bunker token create --principal web1 --vault prod --label web1`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			req := api.PrincipalRequest{Name: a[0], Kind: string(store.User)}
			if service {
				if passwordFile != "" {
					return usageError{fmt.Errorf("a service account has no password: leave out --password-file")}
				}
				req.Kind = string(store.Service)
			}
			c, err := g.dial()
			if err != nil {
				return err
			}
			if !service {
				if req.Password, err = g.askPassword(passwordSource{passwordFile, "password-file", "BUNKER_NEW_PASSWORD"}, fmt.Sprintf("Password for the new user %s: ", a[0]), true); err != nil {
					return err
				}
			}
			p, err := c.CreatePrincipal(cmd.Context(), req)
			if err != nil {
				return failed(err, "create %s %s", req.Kind, a[0])
			}
			if g.json {
				return g.printJSON(p)
			}
			if service {
				g.printf("created service account %s\n", display(p.Name))
				g.notef("give it a role with `bunker role bind %s backup-operator --vault VAULT` and a token with `bunker token create --principal %s`\n", display(p.Name), display(p.Name))
				return nil
			}
			g.printf("created user %s\n", display(p.Name))
			g.notef("give it a role with `bunker role bind %s ROLE` (roles: `bunker role roles`)\n", display(p.Name))
			return nil
		},
	}
	cmd.Flags().BoolVar(&service, "service", false, "create a service account (no password; API tokens only)")
	cmd.Flags().StringVar(&passwordFile, "password-file", "", "read the new user's password from this `file` (or $BUNKER_NEW_PASSWORD, or the terminal)")
	return cmd
}

func newUserListCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List users and service accounts with their roles",
		Long: `List every principal: name, kind (user or service), whether it is disabled,
whether it has a TOTP factor, and its roles as role@vault ("*": all vaults;
"+bypass": with the governance bypass). Needs the security-admin or
auditor role. --json prints an array of principals.`,
		Example: `  bunker user list
  bunker user list --json`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.dial()
			if err != nil {
				return err
			}
			ps, err := c.Principals(cmd.Context())
			if err != nil {
				return failed(err, "list principals")
			}
			if g.json {
				if ps == nil {
					ps = []api.Principal{}
				}
				return g.printJSON(ps)
			}
			tw := g.newTable("NAME", "KIND", "DISABLED", "TOTP", "ROLES")
			for _, p := range ps {
				roles := make([]string, len(p.Bindings))
				for i, b := range p.Bindings {
					roles[i] = bindingText(b)
				}
				totp := yesNo(p.TOTP)
				if p.Kind == store.Service {
					totp = "-"
				}
				row(tw, p.Name, string(p.Kind), yesNo(p.Disabled), totp, displayAll(roles, " "))
			}
			return tw.Flush()
		},
	}
}

func newUserDisableCmd(g *globals, disable bool) *cobra.Command {
	use, short, long := "enable NAME", "Enable a disabled user or service account",
		`Enable a disabled principal: a user can log in again. Tokens revoked when it
was disabled stay revoked: create new ones with `+"`bunker token create`"+`.
Needs the security-admin role, and nobody enables themselves.`
	if disable {
		use, short, long = "disable NAME", "Disable a user or service account and revoke its tokens",
			`Disable a principal: it can no longer log in, and every token it holds is
revoked at once. Its role bindings stay, so `+"`bunker user enable`"+` restores
it. Needs the security-admin role, and nobody disables themselves.`
	}
	return &cobra.Command{
		Use:     use,
		Short:   short,
		Long:    long,
		Example: "  bunker user " + strings.Fields(use)[0] + " ann",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			c, err := g.dial()
			if err != nil {
				return err
			}
			p, err := c.UpdatePrincipal(cmd.Context(), a[0], api.PrincipalUpdate{Disabled: &disable})
			verb := "enable"
			if disable {
				verb = "disable"
			}
			if err != nil {
				return failed(err, "%s %s", verb, a[0])
			}
			if g.json {
				return g.printJSON(p)
			}
			if disable {
				g.printf("disabled %s: it can no longer log in, and its tokens are revoked\n", display(p.Name))
			} else {
				g.printf("enabled %s; tokens revoked earlier stay revoked\n", display(p.Name))
			}
			return nil
		},
	}
}

func newUserPasswdCmd(g *globals) *cobra.Command {
	var currentFile, newFile string
	cmd := &cobra.Command{
		Use:   "passwd [NAME]",
		Short: "Change your password, or (security-admin) another user's",
		Long: `Without NAME, change your own password: the current one is read from
--current-password-file, $BUNKER_PASSWORD or the terminal.

With NAME, a security-admin sets another user's password (for a user who
lost theirs); nobody sets their own this way.

The new password (at least 12 characters) is read from --new-password-file,
$BUNKER_NEW_PASSWORD, or asked twice on the terminal.`,
		Example: `  bunker user passwd
  bunker user passwd ann --new-password-file /run/secrets/ann`,
		Args: args(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			ctx := cmd.Context()
			c, err := g.dial()
			if err != nil {
				return err
			}
			name := ""
			if len(a) == 1 {
				w, err := c.Whoami(ctx)
				if err != nil {
					return failed(err, "find out who you are")
				}
				if a[0] != w.Principal {
					name = a[0]
				}
			}
			if name == "" {
				current, err := g.askPassword(passwordSource{currentFile, "current-password-file", "BUNKER_PASSWORD"}, "Current password: ", false)
				if err != nil {
					return err
				}
				pw, err := g.askPassword(passwordSource{newFile, "new-password-file", "BUNKER_NEW_PASSWORD"}, "New password: ", true)
				if err != nil {
					return err
				}
				if err := c.ChangePassword(ctx, current, pw); err != nil {
					return failed(err, "change your password")
				}
				if g.json {
					return g.printJSON(map[string]string{"status": "password changed"})
				}
				g.printf("changed your password\n")
				return nil
			}
			if currentFile != "" {
				return usageError{fmt.Errorf("--current-password-file is for your own password; setting %s's needs only the new one", name)}
			}
			pw, err := g.askPassword(passwordSource{newFile, "new-password-file", "BUNKER_NEW_PASSWORD"}, fmt.Sprintf("New password for %s: ", name), true)
			if err != nil {
				return err
			}
			p, err := c.UpdatePrincipal(ctx, name, api.PrincipalUpdate{Password: &pw})
			if err != nil {
				return failed(err, "set the password of %s", name)
			}
			if g.json {
				return g.printJSON(p)
			}
			g.printf("set the password of %s\n", display(p.Name))
			return nil
		},
	}
	cmd.Flags().StringVar(&currentFile, "current-password-file", "", "read your current password from this `file` (or $BUNKER_PASSWORD, or the terminal)")
	cmd.Flags().StringVar(&newFile, "new-password-file", "", "read the new password from this `file` (or $BUNKER_NEW_PASSWORD, or the terminal)")
	return cmd
}

func newUserTOTPEnrollCmd(g *globals) *cobra.Command {
	var code string
	cmd := &cobra.Command{
		Use:   "enroll [--code CODE]",
		Short: "Enroll a TOTP second factor for yourself",
		Long: `Enroll a TOTP second factor in two steps. First, without --code: the
server makes a secret and this prints it with an otpauth:// URL to add to an
authenticator app. On a terminal it then asks for the current code;
otherwise confirm with --code. Once confirmed, every login needs the current
code (` + "`bunker login --totp CODE`" + `).

With --code alone, it confirms the enrolment started last. Starting again
replaces a secret that was never confirmed. A lost factor is removed by a
security-admin with ` + "`bunker user totp reset`" + `.`,
		Example: `  bunker user totp enroll
  bunker user totp enroll --code 123456`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			c, err := g.dial()
			if err != nil {
				return err
			}
			if code == "" {
				out, err := c.TOTP(ctx, "")
				if err != nil {
					return failed(err, "start TOTP enrolment")
				}
				if g.json {
					return g.printJSON(out)
				}
				g.printf("secret  %s\nurl     %s\n", display(out.Secret), display(out.URL))
				answer, asked, err := g.terminalLine("Add it to your authenticator app, then enter the current code: ")
				if err != nil {
					return err
				}
				if !asked {
					g.notef("add it to your authenticator app, then confirm with `bunker user totp enroll --code CODE`\n")
					return nil
				}
				code = answer
			}
			out, err := c.TOTP(ctx, code)
			if err != nil {
				return failed(err, "confirm TOTP enrolment (start again with `bunker user totp enroll` if the secret was lost)")
			}
			if g.json {
				return g.printJSON(out)
			}
			g.printf("%s\n", display(out.Next))
			return nil
		},
	}
	cmd.Flags().StringVar(&code, "code", "", "confirm the enrolment with the authenticator's current `code`")
	return cmd
}

func newUserTOTPResetCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "reset NAME",
		Short: "Remove a user's TOTP factor (security-admin)",
		Long: `Remove the TOTP factor of a user who lost it: they log in with the password
alone until they enroll a new one. Needs the security-admin role, and
nobody resets their own.`,
		Example: `  bunker user totp reset ann`,
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			c, err := g.dial()
			if err != nil {
				return err
			}
			p, err := c.UpdatePrincipal(cmd.Context(), a[0], api.PrincipalUpdate{ResetTOTP: true})
			if err != nil {
				return failed(err, "reset the TOTP factor of %s", a[0])
			}
			if g.json {
				return g.printJSON(p)
			}
			g.printf("removed the TOTP factor of %s; they can enroll a new one with `bunker user totp enroll`\n", display(p.Name))
			return nil
		},
	}
}
