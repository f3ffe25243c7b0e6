// Package rbac defines bunker's roles, what each may do, and the separation
// of duties that role bindings must respect. It is pure logic: the server
// stores bindings and asks this package whether an action is allowed and
// whether a new binding is acceptable.
package rbac

import (
	"fmt"
	"slices"
	"strings"
)

// Role is a named set of permissions that a binding grants a principal on a
// scope.
type Role string

// The roles. Each is meant for one job; the constraints keep them apart.
const (
	// BackupOperator adds recovery points to bound vaults and does nothing else.
	BackupOperator Role = "backup-operator"
	// RestoreOperator lists points of bound vaults and restores from them.
	RestoreOperator Role = "restore-operator"
	// VaultAdmin creates vaults (with the all-vaults scope) and sets their
	// policies: locks, retention, legal holds, the recycle bin.
	VaultAdmin Role = "vault-admin"
	// Approver is a member of approval teams: it votes on guarded
	// operations, signing each vote with a key of its own.
	Approver Role = "approver"
	// Auditor reads the audit log and the configuration, never data.
	Auditor Role = "auditor"
	// SecurityAdmin manages principals, tokens and role bindings.
	SecurityAdmin Role = "security-admin"
)

// Roles lists every role in display order.
func Roles() []Role {
	return []Role{BackupOperator, RestoreOperator, VaultAdmin, Approver, Auditor, SecurityAdmin}
}

// ParseRole checks that s names a role.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles() {
		if string(r) == s {
			return r, nil
		}
	}
	names := make([]string, 0, 6)
	for _, r := range Roles() {
		names = append(names, string(r))
	}
	return "", fmt.Errorf("unknown role %q (roles: %s)", s, strings.Join(names, ", "))
}

// Global reports whether the role applies to the whole server rather than to
// vaults: its bindings always have the AllVaults scope.
func (r Role) Global() bool { return r == SecurityAdmin || r == Auditor || r == Approver }

// AllVaults is the scope of a binding that covers every vault, present and
// future.
const AllVaults = "*"

// Permission is one kind of action the server checks.
type Permission string

// Permissions. Vault-scoped permissions are checked against the vault an
// action touches; the others against AllVaults.
const (
	PointCreate      Permission = "point.create"      // open backup sessions, upload, commit
	PlanRun          Permission = "plan.run"          // as an agent: read the plans of a host, claim their runs, report how they went
	PointRead        Permission = "point.read"        // list and show point metadata
	DataRead         Permission = "data.read"         // read trees and file content: restore, ls, dump
	PointDelete      Permission = "point.delete"      // delete points (to the bin), purge, undelete
	PointRetain      Permission = "point.retain"      // change a point's retention
	PointHold        Permission = "point.hold"        // place and release legal holds
	VaultRead        Permission = "vault.read"        // list and show vaults
	VaultCreate      Permission = "vault.create"      // create vaults (AllVaults scope only)
	VaultPolicy      Permission = "vault.policy"      // locks, retention, bin settings
	VaultDelete      Permission = "vault.delete"      // delete an empty vault
	VaultMaintain    Permission = "vault.maintain"    // run maintenance: expiry, bin purge, garbage collection
	VaultVerify      Permission = "vault.verify"      // verify a vault's data and point signatures
	PointScan        Permission = "point.scan"        // scan points for ransomware and record their verdicts
	EventRead        Permission = "event.read"        // read the server's event stream (verdicts and their changes)
	GovernanceBypass Permission = "governance.bypass" // delete or shorten governance-locked points early (binding option)
	ApprovalVote     Permission = "approval.vote"     // join approval teams and vote on guarded operations
	AccessRequest    Permission = "access.request"    // ask for a restore-access grant to an air-gapped vault
	AuditRead        Permission = "audit.read"        // read, export and verify the audit log
	RemoteAdmin      Permission = "remote.admin"      // register the remote servers points are pulled from, and pull (AllVaults scope only)
	RuleAdmin        Permission = "rule.admin"        // create, change and delete the event rules that route events to targets (AllVaults scope only)
	DeliveryRead     Permission = "delivery.read"     // list the event deliveries and dead letters (AllVaults scope only)
	DeliveryReplay   Permission = "delivery.replay"   // replay dead letters (AllVaults scope only)
	PushAdmin        Permission = "push.admin"        // register the central servers points are pushed to, and push (AllVaults scope only)
	PrincipalAdmin   Permission = "principal.admin"   // users, service accounts, their tokens, role bindings
)

// grants lists what each role allows. GovernanceBypass is never granted by
// a role alone: a vault-admin binding must carry the bypass option.
func grants(r Role) []Permission {
	switch r {
	case BackupOperator:
		return []Permission{PointCreate, PlanRun}
	case RestoreOperator:
		return []Permission{VaultRead, PointRead, DataRead, AccessRequest}
	case Approver:
		return []Permission{ApprovalVote}
	case VaultAdmin:
		return []Permission{VaultRead, VaultCreate, VaultPolicy, VaultDelete, VaultMaintain, VaultVerify,
			PointRead, PointDelete, PointRetain, PointHold, PointScan, RemoteAdmin, PushAdmin, RuleAdmin, DeliveryRead, DeliveryReplay}
	case Auditor:
		return []Permission{AuditRead, VaultRead, PointRead, VaultVerify, PointScan, EventRead}
	case SecurityAdmin:
		return []Permission{PrincipalAdmin, EventRead, DeliveryRead}
	}
	return nil
}

// Grants returns the permissions a role gives, for documentation and the
// roles listing.
func Grants(r Role) []Permission { return slices.Clone(grants(r)) }

// Binding gives a principal a role on a scope: one vault's name, or
// AllVaults.
type Binding struct {
	ID        int64  `json:"id"`
	Principal string `json:"principal"`
	Role      Role   `json:"role"`
	Vault     string `json:"vault"`
	// BypassGovernance lets a vault-admin delete or shorten points of
	// governance-locked vaults before they expire.
	BypassGovernance bool `json:"bypass_governance,omitempty"`
}

// covers reports whether a binding's scope includes vault.
func (b Binding) covers(vault string) bool { return b.Vault == AllVaults || b.Vault == vault }

// overlaps reports whether two scopes share a vault.
func overlaps(a, b string) bool { return a == AllVaults || b == AllVaults || a == b }

// Allowed reports whether bindings give permission p on vault (AllVaults for
// server-wide actions). VaultCreate needs the AllVaults scope.
func Allowed(bindings []Binding, p Permission, vault string) bool {
	for _, b := range bindings {
		if p == VaultCreate && b.Vault != AllVaults {
			continue
		}
		if !b.covers(vault) {
			continue
		}
		if p == GovernanceBypass {
			if b.Role == VaultAdmin && b.BypassGovernance {
				return true
			}
			continue
		}
		if slices.Contains(grants(b.Role), p) {
			return true
		}
	}
	return false
}

// Vaults returns the vault scopes on which bindings give p: a list of
// names, or AllVaults alone.
func Vaults(bindings []Binding, p Permission) []string {
	var out []string
	for _, b := range bindings {
		if !Allowed([]Binding{b}, p, b.Vault) {
			continue
		}
		if b.Vault == AllVaults {
			return []string{AllVaults}
		}
		if !slices.Contains(out, b.Vault) {
			out = append(out, b.Vault)
		}
	}
	slices.Sort(out)
	return out
}
