// Package labtest holds swarmscope's real-world integration tests: the built
// swarmscope binary runs in network-namespace labs (nat/nslab) behind real
// kernel NAT and a real miniupnpd gateway, and swarms with foreign clients
// (Transmission, aria2) through a real tracker (opentracker), with STUN
// answers checked against the classic stund and its stun client.
//
// The tests need Linux and root and skip otherwise; SWARMSCOPE_LAB=1 turns
// missing prerequisites into failures. Run them with
//
//	sudo go test ./engine/labtest/ -v          # CI-sized, a few MiB per torrent
//	sudo go test ./engine/labtest/ -v -long    # bigger torrents
//
// SWARMSCOPE_LAB_BINARY=/path/to/swarmscope tests that binary instead of
// building the module's.
//
// Every address used lives in the namespaces the test creates.
package labtest
