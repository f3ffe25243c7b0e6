package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/bunkerhq/bunker/internal/rbac"
	"github.com/bunkerhq/bunker/internal/store"
)

const principalCols = `id, name, kind, password_hash, totp_sealed, totp_last_step, disabled, created_at, created_by`

func scanPrincipal(row interface{ Scan(...any) error }) (*store.Principal, error) {
	var p store.Principal
	var created int64
	var disabled int
	err := row.Scan(&p.ID, &p.Name, &p.Kind, &p.PasswordHash, &p.TOTPSealed, &p.TOTPLastStep, &disabled, &created, &p.CreatedBy)
	p.CreatedAt, p.Disabled = fromNanos(created), disabled != 0
	return &p, err
}

func (t *tx) CreatePrincipal(ctx context.Context, p *store.Principal) error {
	err := t.tx.QueryRowContext(ctx, `INSERT INTO principals (name, kind, password_hash, totp_sealed, totp_last_step, disabled, created_at, created_by)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		p.Name, p.Kind, p.PasswordHash, p.TOTPSealed, p.TOTPLastStep, boolInt(p.Disabled), nanos(p.CreatedAt), p.CreatedBy).Scan(&p.ID)
	if isUnique(err) {
		return fmt.Errorf("principal %s: %w", p.Name, store.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create principal %s: %w", p.Name, err)
	}
	return nil
}

func (t *tx) Principal(ctx context.Context, name string) (*store.Principal, error) {
	p, err := scanPrincipal(t.tx.QueryRowContext(ctx, `SELECT `+principalCols+` FROM principals WHERE name = ?`, name))
	if err := notFound(err, "principal "+name); err != nil {
		return nil, err
	}
	return p, nil
}

func (t *tx) Principals(ctx context.Context) ([]store.Principal, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT `+principalCols+` FROM principals ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list principals: %w", err)
	}
	defer rows.Close()
	var out []store.Principal
	for rows.Next() {
		p, err := scanPrincipal(rows)
		if err != nil {
			return nil, fmt.Errorf("list principals: %w", err)
		}
		out = append(out, *p)
	}
	return out, rows.Err()
}

func (t *tx) UpdatePrincipal(ctx context.Context, p *store.Principal) error {
	return t.execOne(ctx, "principal "+p.Name, `UPDATE principals SET password_hash = ?, totp_sealed = ?, totp_last_step = ?, disabled = ? WHERE id = ?`,
		p.PasswordHash, p.TOTPSealed, p.TOTPLastStep, boolInt(p.Disabled), p.ID)
}

const tokenCols = `t.id, t.principal_id, p.name, t.hash, t.kind, t.label, t.vaults, t.hosts, t.created_at, t.expires_at, t.revoked_at, t.last_used`

func scanToken(row interface{ Scan(...any) error }) (*store.Token, error) {
	var tk store.Token
	var vaults, hosts string
	var created, expires, revoked, used int64
	if err := row.Scan(&tk.ID, &tk.PrincipalID, &tk.Principal, &tk.Hash, &tk.Kind, &tk.Label, &vaults, &hosts, &created, &expires, &revoked, &used); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(vaults), &tk.Vaults); err != nil {
		return nil, fmt.Errorf("token %s: vaults: %w", tk.ID, err)
	}
	if err := json.Unmarshal([]byte(hosts), &tk.Hosts); err != nil {
		return nil, fmt.Errorf("token %s: hosts: %w", tk.ID, err)
	}
	tk.CreatedAt, tk.ExpiresAt, tk.RevokedAt, tk.LastUsed = fromNanos(created), fromNanos(expires), fromNanos(revoked), fromNanos(used)
	return &tk, nil
}

func jsonText(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

func (t *tx) CreateToken(ctx context.Context, tk *store.Token) error {
	vaults, err := jsonText(nonNil(tk.Vaults))
	if err != nil {
		return err
	}
	hosts, err := jsonText(nonNil(tk.Hosts))
	if err != nil {
		return err
	}
	_, err = t.tx.ExecContext(ctx, `INSERT INTO tokens (id, principal_id, hash, kind, label, vaults, hosts, created_at, expires_at, revoked_at, last_used)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		tk.ID, tk.PrincipalID, tk.Hash, tk.Kind, tk.Label, vaults, hosts, nanos(tk.CreatedAt), nanos(tk.ExpiresAt), nanos(tk.RevokedAt), nanos(tk.LastUsed))
	if isUnique(err) {
		return fmt.Errorf("token %s: %w", tk.ID, store.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create token: %w", err)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (t *tx) Token(ctx context.Context, id string) (*store.Token, error) {
	tk, err := scanToken(t.tx.QueryRowContext(ctx, `SELECT `+tokenCols+` FROM tokens t JOIN principals p ON p.id = t.principal_id WHERE t.id = ?`, id))
	if err := notFound(err, "token "+id); err != nil {
		return nil, err
	}
	return tk, nil
}

func (t *tx) Tokens(ctx context.Context, principal string) ([]store.Token, error) {
	q := `SELECT ` + tokenCols + ` FROM tokens t JOIN principals p ON p.id = t.principal_id`
	var args []any
	if principal != "" {
		q += ` WHERE p.name = ?`
		args = append(args, principal)
	}
	rows, err := t.tx.QueryContext(ctx, q+` ORDER BY t.created_at`, args...)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	var out []store.Token
	for rows.Next() {
		tk, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		out = append(out, *tk)
	}
	return out, rows.Err()
}

func (t *tx) UpdateToken(ctx context.Context, tk *store.Token) error {
	return t.execOne(ctx, "token "+tk.ID, `UPDATE tokens SET revoked_at = ?, last_used = ?, expires_at = ? WHERE id = ?`,
		nanos(tk.RevokedAt), nanos(tk.LastUsed), nanos(tk.ExpiresAt), tk.ID)
}

func (t *tx) TouchToken(ctx context.Context, id string, at time.Time) error {
	return t.execOne(ctx, "token "+id, `UPDATE tokens SET last_used = ? WHERE id = ?`, nanos(at), id)
}

const bindingCols = `b.id, b.principal_id, p.name, b.role, b.vault, b.bypass_governance, b.created_at, b.created_by`

func (t *tx) CreateBinding(ctx context.Context, b *store.Binding) error {
	err := t.tx.QueryRowContext(ctx, `INSERT INTO bindings (principal_id, role, vault, bypass_governance, created_at, created_by)
		VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
		b.PrincipalID, b.Role, b.Vault, boolInt(b.BypassGovernance), nanos(b.CreatedAt), b.CreatedBy).Scan(&b.ID)
	if isUnique(err) {
		return fmt.Errorf("binding of %s to %s on %s: %w", b.Role, b.Principal, b.Vault, store.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create binding: %w", err)
	}
	return nil
}

func (t *tx) Bindings(ctx context.Context, principal string) ([]store.Binding, error) {
	q := `SELECT ` + bindingCols + ` FROM bindings b JOIN principals p ON p.id = b.principal_id`
	var args []any
	if principal != "" {
		q += ` WHERE p.name = ?`
		args = append(args, principal)
	}
	rows, err := t.tx.QueryContext(ctx, q+` ORDER BY b.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list bindings: %w", err)
	}
	defer rows.Close()
	var out []store.Binding
	for rows.Next() {
		var b store.Binding
		var role string
		var bypass int
		var created int64
		if err := rows.Scan(&b.ID, &b.PrincipalID, &b.Principal, &role, &b.Vault, &bypass, &created, &b.CreatedBy); err != nil {
			return nil, fmt.Errorf("list bindings: %w", err)
		}
		b.Role, b.BypassGovernance, b.CreatedAt = rbac.Role(role), bypass != 0, fromNanos(created)
		out = append(out, b)
	}
	return out, rows.Err()
}

func (t *tx) DeleteBinding(ctx context.Context, id int64) error {
	return t.execOne(ctx, fmt.Sprintf("binding %d", id), `DELETE FROM bindings WHERE id = ?`, id)
}

// scanner is a row or rows.
type scanner interface{ Scan(...any) error }

var _ scanner = (*sql.Row)(nil)
