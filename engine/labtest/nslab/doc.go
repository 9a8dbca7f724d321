// Package nslab builds throw-away network-namespace labs for root-only
// integration tests: a "public" internet segment on a bridge, home networks
// behind routers doing real kernel NAT (port-restricted cone, symmetric, or
// none), and helpers that run real third-party daemons (stund, opentracker,
// miniupnpd, Transmission, aria2) inside those namespaces.
//
// Every lab lives in namespaces named after a random prefix, so labs never
// collide, and it is torn down through t.Cleanup even when the test fails.
// The public segment uses 11.0.0.0/24: miniupnpd refuses private or reserved
// WAN addresses, and no route leaves the namespaces, so nothing reaches the
// real network. Home LANs use 192.168.N.0/24 inside their own namespaces.
//
// Tests call Require first: off Linux, or when not root, the test is
// skipped, unless SWARMSCOPE_LAB=1 is set, which turns every missing
// prerequisite into a failure (CI sets it after installing the packages in
// .ci/lab-packages.txt).
package nslab
