package userdirs

import (
	"path/filepath"
	"testing"
)

func TestDirs(t *testing.T) {
	t.Setenv("HOME", "/home/ann")
	t.Setenv("XDG_DATA_HOME", "")
	t.Setenv("XDG_CONFIG_HOME", "")
	if d, err := Data("bunker", "vault"); err != nil || d != "/home/ann/.local/share/bunker/vault" {
		t.Fatalf("Data = %q, %v", d, err)
	}
	if c, err := Config("bunker", "vault.key"); err != nil || c != "/home/ann/.config/bunker/vault.key" {
		t.Fatalf("Config = %q, %v", c, err)
	}
	t.Setenv("XDG_DATA_HOME", "/srv/data")
	t.Setenv("XDG_CONFIG_HOME", "/srv/conf")
	if d, _ := Data("x"); d != filepath.Join("/srv/data", "x") {
		t.Fatalf("Data with XDG_DATA_HOME = %q", d)
	}
	if c, _ := Config("x"); c != filepath.Join("/srv/conf", "x") {
		t.Fatalf("Config with XDG_CONFIG_HOME = %q", c)
	}
}
