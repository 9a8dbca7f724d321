// Command swarmscope is a terminal BitTorrent client that shows how every
// peer reached you: inbound, outbound, holepunched or through UPnP.
package main

import (
	"os"

	"github.com/swarmscope/swarmscope/ui/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
