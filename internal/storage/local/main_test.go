package local

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// Environment of the test binary when it runs as a child process.
const (
	helperEnv = "BUNKER_LOCAL_TEST_HELPER" // which helper to run
	vaultEnv  = "BUNKER_LOCAL_TEST_VAULT"  // the vault it works on
)

func TestMain(m *testing.M) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		os.Exit(m.Run())
	}
	var err error
	switch mode {
	case "put-loop":
		err = putLoop(os.Getenv(vaultEnv))
	case "hold-lock":
		err = holdLock(os.Getenv(vaultEnv))
	case "put-retained":
		err = putRetainedHelper(os.Getenv(vaultEnv))
	case "extend-retention":
		err = extendRetentionHelper(os.Getenv(vaultEnv))
	case "retention-report":
		err = retentionReport(os.Getenv(vaultEnv))
	default:
		err = fmt.Errorf("unknown helper %q", mode)
	}
	if err == nil {
		os.Exit(0)
	}
	fmt.Fprintln(os.Stderr, err)
	os.Exit(2)
}

// helperCommand runs this test binary as the helper named mode on dir.
func helperCommand(t *testing.T, mode, dir string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, vaultEnv+"="+dir)
	cmd.Stderr = os.Stderr
	return cmd
}
