package igdsoap

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestResponseParsesBack(t *testing.T) {
	ns := "urn:schemas-upnp-org:service:WANIPConnection:1"
	body := Response(ns, "GetExternalIPAddress", [][2]string{{"NewExternalIPAddress", "<1.2.3.4&>"}})
	gotNS, action, args, err := Parse(body)
	if err != nil || gotNS != ns || action != "GetExternalIPAddressResponse" || args["NewExternalIPAddress"] != "<1.2.3.4&>" {
		t.Fatalf("%q %q %v %v", gotNS, action, args, err)
	}
	for _, bad := range []string{"", "<a/>", `<s:Envelope xmlns:s="x"><s:Body></s:Body></s:Envelope>`,
		`<s:Envelope xmlns:s="x"><s:Body><u:A xmlns:u="y"><b><c/></b></u:A></s:Body></s:Envelope>`} {
		if _, _, _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestWriteFault(t *testing.T) {
	w := httptest.NewRecorder()
	WriteFault(w, 718, "Conflict<>")
	if w.Code != 500 || !strings.Contains(w.Body.String(), "<errorCode>718</errorCode><errorDescription>Conflict&lt;&gt;</errorDescription>") {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}
