package rbac

import (
	"errors"
	"strings"
	"testing"
)

func TestAllowedByRole(t *testing.T) {
	cases := []struct {
		b     Binding
		p     Permission
		vault string
		want  bool
	}{
		{Binding{Role: BackupOperator, Vault: "prod"}, PointCreate, "prod", true},
		{Binding{Role: BackupOperator, Vault: "prod"}, PointCreate, "dev", false},
		{Binding{Role: BackupOperator, Vault: "prod"}, PointRead, "prod", false},
		{Binding{Role: BackupOperator, Vault: "prod"}, DataRead, "prod", false},
		{Binding{Role: BackupOperator, Vault: "prod"}, PointDelete, "prod", false},
		{Binding{Role: BackupOperator, Vault: AllVaults}, PointCreate, "any", true},
		{Binding{Role: RestoreOperator, Vault: "prod"}, DataRead, "prod", true},
		{Binding{Role: RestoreOperator, Vault: "prod"}, PointDelete, "prod", false},
		{Binding{Role: VaultAdmin, Vault: "prod"}, VaultCreate, "new", false},
		{Binding{Role: VaultAdmin, Vault: "prod"}, VaultCreate, AllVaults, false},
		{Binding{Role: VaultAdmin, Vault: AllVaults}, VaultCreate, "new", true},
		{Binding{Role: VaultAdmin, Vault: "prod"}, PointDelete, "prod", true},
		{Binding{Role: VaultAdmin, Vault: "prod"}, DataRead, "prod", false},
		{Binding{Role: VaultAdmin, Vault: "prod"}, GovernanceBypass, "prod", false},
		{Binding{Role: VaultAdmin, Vault: "prod", BypassGovernance: true}, GovernanceBypass, "prod", true},
		{Binding{Role: VaultAdmin, Vault: "prod", BypassGovernance: true}, GovernanceBypass, "dev", false},
		{Binding{Role: Auditor, Vault: AllVaults}, AuditRead, AllVaults, true},
		{Binding{Role: Auditor, Vault: AllVaults}, DataRead, "prod", false},
		{Binding{Role: SecurityAdmin, Vault: AllVaults}, PrincipalAdmin, AllVaults, true},
		{Binding{Role: SecurityAdmin, Vault: AllVaults}, VaultPolicy, "prod", false},
		{Binding{Role: SecurityAdmin, Vault: AllVaults}, DataRead, "prod", false},
		{Binding{Role: Approver, Vault: AllVaults}, PointDelete, "prod", false},
		{Binding{Role: VaultAdmin, Vault: "prod"}, PointScan, "prod", true},
		{Binding{Role: VaultAdmin, Vault: "prod"}, PointScan, "dev", false},
		{Binding{Role: Auditor, Vault: AllVaults}, PointScan, "prod", true},
		{Binding{Role: RestoreOperator, Vault: "prod"}, PointScan, "prod", false},
		{Binding{Role: BackupOperator, Vault: "prod"}, PointScan, "prod", false},
		{Binding{Role: Auditor, Vault: AllVaults}, EventRead, AllVaults, true},
		{Binding{Role: SecurityAdmin, Vault: AllVaults}, EventRead, AllVaults, true},
		{Binding{Role: VaultAdmin, Vault: AllVaults}, EventRead, AllVaults, false},
	}
	for _, c := range cases {
		if got := Allowed([]Binding{c.b}, c.p, c.vault); got != c.want {
			t.Errorf("%s on %s: %s on %s = %v, want %v", c.b.Role, c.b.Vault, c.p, c.vault, got, c.want)
		}
	}
	if Allowed(nil, VaultRead, "prod") {
		t.Error("no bindings allowed something")
	}
}

func TestVaults(t *testing.T) {
	bs := []Binding{{Role: RestoreOperator, Vault: "b"}, {Role: RestoreOperator, Vault: "a"}, {Role: BackupOperator, Vault: "c"}}
	if got := strings.Join(Vaults(bs, DataRead), ","); got != "a,b" {
		t.Fatalf("Vaults = %s", got)
	}
	bs = append(bs, Binding{Role: Auditor, Vault: AllVaults})
	if got := strings.Join(Vaults(bs, PointRead), ","); got != AllVaults {
		t.Fatalf("Vaults with a global grant = %s", got)
	}
}

func TestCheckBindingConstraints(t *testing.T) {
	cs := DefaultConstraints()
	cases := []struct {
		name     string
		actor    string
		b        Binding
		existing []Binding
		refused  string // constraint name, or "" for accepted
	}{
		{"plain", "sec", Binding{Principal: "host1", Role: BackupOperator, Vault: "prod"}, nil, ""},
		{"self grant", "sec", Binding{Principal: "sec", Role: VaultAdmin, Vault: AllVaults}, nil, NoSelfGrant},
		{"self grant auditor", "sec", Binding{Principal: "sec", Role: Auditor, Vault: AllVaults}, nil, NoSelfGrant},
		{"backup then restore same vault", "sec", Binding{Principal: "h", Role: RestoreOperator, Vault: "prod"},
			[]Binding{{Principal: "h", Role: BackupOperator, Vault: "prod"}}, CreateVsRestore},
		{"restore then backup", "sec", Binding{Principal: "h", Role: BackupOperator, Vault: "prod"},
			[]Binding{{Principal: "h", Role: RestoreOperator, Vault: "prod"}}, CreateVsRestore},
		{"backup all, restore one", "sec", Binding{Principal: "h", Role: RestoreOperator, Vault: "prod"},
			[]Binding{{Principal: "h", Role: BackupOperator, Vault: AllVaults}}, CreateVsRestore},
		{"backup one, restore another", "sec", Binding{Principal: "h", Role: RestoreOperator, Vault: "dev"},
			[]Binding{{Principal: "h", Role: BackupOperator, Vault: "prod"}}, ""},
		{"backup and vault-admin", "sec", Binding{Principal: "h", Role: VaultAdmin, Vault: "prod"},
			[]Binding{{Principal: "h", Role: BackupOperator, Vault: "prod"}}, CreateVsDelete},
		{"security-admin gets data role", "sec", Binding{Principal: "sec2", Role: RestoreOperator, Vault: "prod"},
			[]Binding{{Principal: "sec2", Role: SecurityAdmin, Vault: AllVaults}}, SecurityAdminOnly},
		{"data role gets security-admin", "sec", Binding{Principal: "va", Role: SecurityAdmin, Vault: AllVaults},
			[]Binding{{Principal: "va", Role: VaultAdmin, Vault: "prod"}}, SecurityAdminOnly},
		{"restore and vault-admin", "sec", Binding{Principal: "va", Role: RestoreOperator, Vault: "prod"},
			[]Binding{{Principal: "va", Role: VaultAdmin, Vault: "prod"}}, ""},
	}
	for _, c := range cases {
		err := CheckBinding(cs, c.actor, c.b, c.existing)
		if c.refused == "" {
			if err != nil {
				t.Errorf("%s: refused: %v", c.name, err)
			}
			continue
		}
		if err == nil || !errors.Is(err, ErrConstraint) || !strings.Contains(err.Error(), c.refused) {
			t.Errorf("%s: got %v, want refusal by %s", c.name, err, c.refused)
		}
	}
}

func TestCheckBindingShape(t *testing.T) {
	cs := DefaultConstraints()
	bad := []Binding{
		{Principal: "h", Role: "root", Vault: "prod"},
		{Principal: "", Role: BackupOperator, Vault: "prod"},
		{Principal: "h", Role: BackupOperator, Vault: ""},
		{Principal: "h", Role: Auditor, Vault: "prod"},
		{Principal: "h", Role: RestoreOperator, Vault: "prod", BypassGovernance: true},
	}
	for _, b := range bad {
		if err := CheckBinding(cs, "sec", b, nil); err == nil {
			t.Errorf("accepted %+v", b)
		}
	}
	dup := Binding{Principal: "h", Role: BackupOperator, Vault: "prod"}
	if err := CheckBinding(cs, "sec", dup, []Binding{dup}); err == nil {
		t.Error("accepted a duplicate binding")
	}
}

func TestRelaxedConstraints(t *testing.T) {
	cs, err := Constraints([]string{CreateVsRestore})
	if err != nil {
		t.Fatal(err)
	}
	b := Binding{Principal: "h", Role: RestoreOperator, Vault: "prod"}
	if err := CheckBinding(cs, "sec", b, []Binding{{Principal: "h", Role: BackupOperator, Vault: "prod"}}); err != nil {
		t.Fatalf("relaxed constraint still refused: %v", err)
	}
	if _, err := Constraints([]string{NoSelfGrant}); err == nil {
		t.Fatal("relaxed the fixed constraint")
	}
	if _, err := Constraints([]string{"nope"}); err == nil {
		t.Fatal("accepted an unknown constraint")
	}
	if err := CheckBinding(cs, "h", b, nil); err == nil {
		t.Fatal("self grant allowed with other constraints relaxed")
	}
}

func TestCheckUnbind(t *testing.T) {
	if err := CheckUnbind("sec", Binding{Principal: "sec", Role: SecurityAdmin, Vault: AllVaults}); err == nil {
		t.Fatal("removed own binding")
	}
	if err := CheckUnbind("sec", Binding{Principal: "other", Role: SecurityAdmin, Vault: AllVaults}); err != nil {
		t.Fatal(err)
	}
}

func TestApprovalPermissions(t *testing.T) {
	approver := []Binding{{Role: Approver, Vault: AllVaults}}
	if !Allowed(approver, ApprovalVote, AllVaults) || Allowed(approver, DataRead, "prod") {
		t.Fatal("an approver votes and reads nothing")
	}
	ops := []Binding{{Role: RestoreOperator, Vault: AllVaults}}
	if !Allowed(ops, AccessRequest, "vault") || Allowed(ops, ApprovalVote, AllVaults) {
		t.Fatal("a restore-operator may ask for access and may not vote")
	}
}

// Event rules route data to external targets and trigger copies: only a
// vault-admin of every vault manages them; a security-admin may read the
// deliveries but neither change rules nor replay.
func TestEventRulePermissions(t *testing.T) {
	admin := []Binding{{Role: VaultAdmin, Vault: AllVaults}}
	prodAdmin := []Binding{{Role: VaultAdmin, Vault: "prod"}}
	sec := []Binding{{Role: SecurityAdmin, Vault: AllVaults}}
	for _, c := range []struct {
		name string
		bs   []Binding
		p    Permission
		want bool
	}{
		{"vault-admin@*", admin, RuleAdmin, true},
		{"vault-admin@*", admin, DeliveryRead, true},
		{"vault-admin@*", admin, DeliveryReplay, true},
		{"vault-admin@prod", prodAdmin, RuleAdmin, false},
		{"vault-admin@prod", prodAdmin, DeliveryReplay, false},
		{"security-admin", sec, DeliveryRead, true},
		{"security-admin", sec, RuleAdmin, false},
		{"security-admin", sec, DeliveryReplay, false},
		{"auditor", []Binding{{Role: Auditor, Vault: AllVaults}}, RuleAdmin, false},
		{"backup-operator@*", []Binding{{Role: BackupOperator, Vault: AllVaults}}, DeliveryRead, false},
	} {
		if got := Allowed(c.bs, c.p, AllVaults); got != c.want {
			t.Errorf("%s: %s allowed %v, want %v", c.name, c.p, got, c.want)
		}
	}
}
