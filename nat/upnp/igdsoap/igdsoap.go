// Package igdsoap is the gateway side of UPnP SOAP control, shared by the
// in-process gateways (nat/upnp/upnptest, nat/natlab/igd): parsing an action
// request and writing its response envelope or UPnP fault.
package igdsoap

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Parse extracts the action namespace, name and arguments of a request
// body. It rejects anything but one action with flat arguments.
func Parse(body []byte) (ns, action string, args map[string]string, err error) {
	d := xml.NewDecoder(bytes.NewReader(body))
	depth := 0
	args = map[string]string{}
	var arg string
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", "", nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch depth {
			case 1:
				if t.Name.Local != "Envelope" {
					return "", "", nil, errors.New("not a SOAP envelope")
				}
			case 2:
				if t.Name.Local != "Body" {
					if err := d.Skip(); err != nil {
						return "", "", nil, err
					}
					depth--
				}
			case 3:
				if action != "" {
					return "", "", nil, errors.New("more than one action")
				}
				ns, action = t.Name.Space, t.Name.Local
			case 4:
				arg = t.Name.Local
				args[arg] = ""
			default:
				return "", "", nil, errors.New("nested argument")
			}
		case xml.CharData:
			if depth == 4 {
				args[arg] += string(t)
			}
		case xml.EndElement:
			depth--
		}
	}
	if action == "" {
		return "", "", nil, errors.New("no action")
	}
	for k, v := range args {
		args[k] = strings.TrimSpace(v)
	}
	return ns, action, args, nil
}

const envelopeOpen = `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>`

// Response is the envelope answering action of service ns with the output
// arguments out (name, value), values escaped.
func Response(ns, action string, out [][2]string) []byte {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString(envelopeOpen)
	fmt.Fprintf(&b, `<u:%sResponse xmlns:u="%s">`, action, ns)
	for _, kv := range out {
		fmt.Fprintf(&b, "<%s>%s</%s>", kv[0], Escape(kv[1]), kv[0])
	}
	fmt.Fprintf(&b, `</u:%sResponse></s:Body></s:Envelope>`, action)
	return b.Bytes()
}

// WriteResponse sends body (a Response, possibly doctored by a test) as a
// successful SOAP answer.
func WriteResponse(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
	w.Header().Set("EXT", "")
	_, _ = w.Write(body)
}

// WriteFault sends a UPnP error as a SOAP fault (HTTP 500), as gateways do.
func WriteFault(w http.ResponseWriter, code int, desc string) {
	w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
	w.WriteHeader(http.StatusInternalServerError)
	fmt.Fprintf(w, `%s%s<s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>%d</errorCode><errorDescription>%s</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>`,
		xml.Header, envelopeOpen, code, Escape(desc))
}

// Escape escapes s for XML character data.
func Escape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
