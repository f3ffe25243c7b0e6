// Command bunker backs up files and streams into vaults that survive
// ransomware and insiders. Run `bunker --help` for the commands.
package main

import (
	"os"

	"github.com/bunkerhq/bunker/internal/cli"
)

func main() {
	cli.SetGCPercent(cli.GCPercent)
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
