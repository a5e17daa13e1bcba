// Command nix-auth gets forge tokens and puts them where Nix reads them.
package main

import (
	"os"

	"github.com/nix-auth/nix-auth/cmd"
)

func main() {
	os.Exit(cmd.Execute())
}
