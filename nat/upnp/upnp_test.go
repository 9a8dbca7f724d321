package upnp

import (
	"strings"
	"testing"
)

// The mapping lifecycle against the in-process gateway (upnptest) is
// tested in nat/portmap, which runs this package's client.

func TestParseSSDPAnswer(t *testing.T) {
	good := "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nUSN: uuid:x::urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nEXT:\r\nSERVER: Debian UPnP/1.1 MiniUPnPd/2.3\r\nLOCATION: http://192.168.1.1:5000/rootDesc.xml\r\n\r\n"
	if loc := parseSSDPAnswer([]byte(good)); loc == nil || loc.String() != "http://192.168.1.1:5000/rootDesc.xml" {
		t.Fatalf("good answer: %v", loc)
	}
	for _, bad := range []string{
		"",
		"garbage",
		strings.Replace(good, "200 OK", "404 Not Found", 1),
		strings.Replace(good, "InternetGatewayDevice:1", "MediaRenderer:1", 1),
		strings.Replace(good, "http://192.168.1.1:5000/rootDesc.xml", "file:///etc/passwd", 1),
		strings.Replace(good, "http://192.168.1.1:5000/rootDesc.xml", "http://%zz", 1),
		strings.Replace(good, "LOCATION: http://192.168.1.1:5000/rootDesc.xml\r\n", "", 1),
		good[:40],
		"NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n\r\n",
	} {
		if loc := parseSSDPAnswer([]byte(bad)); loc != nil {
			t.Errorf("accepted %q as %v", bad, loc)
		}
	}
}
