//go:build ignore

// gen writes the hostile .torrent corpus in this directory, one file per
// class of attack that swarmscope must refuse with one line and exit 2:
//
//	go run engine/testdata/hostile/gen.go
//
// Every file is also a seed of engine's FuzzParseSource.
package main

import (
	"bytes"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	dir := filepath.Dir(os.Args[0])
	if len(os.Args) > 1 {
		dir = os.Args[1]
	} else if _, err := os.Stat("engine/testdata/hostile"); err == nil {
		dir = "engine/testdata/hostile"
	}
	for name, b := range corpus() {
		if err := os.WriteFile(filepath.Join(dir, name+".torrent"), b, 0o644); err != nil {
			log.Fatal(err)
		}
	}
}

// A tiny bencoder: values are string, []byte, int, []any or dict.
type dict map[string]any

func enc(w *bytes.Buffer, v any) {
	switch v := v.(type) {
	case string:
		fmt.Fprintf(w, "%d:%s", len(v), v)
	case []byte:
		fmt.Fprintf(w, "%d:", len(v))
		w.Write(v)
	case int:
		fmt.Fprintf(w, "i%de", v)
	case []any:
		w.WriteByte('l')
		for _, x := range v {
			enc(w, x)
		}
		w.WriteByte('e')
	case dict:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		w.WriteByte('d')
		for _, k := range keys {
			enc(w, k)
			enc(w, v[k])
		}
		w.WriteByte('e')
	case raw:
		w.Write(v)
	default:
		panic(fmt.Sprintf("cannot encode %T", v))
	}
}

// raw is already bencoded.
type raw []byte

func bencode(v any) []byte {
	var b bytes.Buffer
	enc(&b, v)
	return b.Bytes()
}

func hashes(n int) []byte { return bytes.Repeat([]byte{0xab}, 20*n) }

func torrent(info any) []byte {
	return bencode(dict{"announce": "http://127.0.0.1:1/announce", "info": info})
}

func v2file(length int) dict {
	return dict{"": dict{"length": length, "pieces root": strings.Repeat("r", 32)}}
}

func corpus() map[string][]byte {
	c := map[string][]byte{}
	const pl = 16384

	// 5 MiB of nested lists: anacrolix's decoder recursed until the stack
	// overflowed (a fatal error, 1 GB).
	n := (5<<20 - 20) / 2
	c["nest-lists"] = []byte("d4:info" + strings.Repeat("l", n) + strings.Repeat("e", n) + "e")

	// 6.5 MB of nested dictionaries: 4.2 s and 1.55 GB before.
	n = (6_500_000 - 20) / 5
	c["nest-dicts"] = []byte("d4:info" + strings.Repeat("d1:a", n) + "de" + strings.Repeat("e", n) + "e")

	// A 1 MB v2 file tree nested one directory per level: its decoder
	// re-decodes each subtree per level above it; it hung and grew.
	n = (1<<20 - 200) / 4
	tree := strings.Repeat("d1:a", n) + "d0:d6:lengthi1e11:pieces root32:" + strings.Repeat("r", 32) + "ee" + strings.Repeat("e", n)
	c["v2-tree-deep"] = torrent(raw("d9:file tree" + tree + "12:meta versioni2e4:name1:x12:piece lengthi16384e6:pieces20:" + string(hashes(1)) + "e"))

	// A v2 tree within the depth limit whose files are so deep and many
	// that one path per file would take gigabytes.
	var wide strings.Builder
	const depth, leaves = 95, 100_000
	wide.WriteString(strings.Repeat("d1:a", depth))
	wide.WriteString("d")
	keys := make([]string, leaves)
	for i := range keys {
		keys[i] = fmt.Sprintf("%06d", i)
	}
	for _, k := range keys {
		fmt.Fprintf(&wide, "%d:%sd0:d6:lengthi1eee", len(k), k)
	}
	wide.WriteString("e" + strings.Repeat("e", depth))
	c["v2-tree-wide"] = torrent(raw("d9:file tree" + wide.String() + "12:meta versioni2e4:name1:x12:piece lengthi16384e6:pieces20:" + string(hashes(1)) + "e"))

	// Oversized fields.
	c["oversized-string-length"] = []byte("d4:infod6:pieces99999999999:abce")
	c["oversized-integer"] = []byte("d4:infod6:lengthi" + strings.Repeat("9", 4000) + "e4:name1:x12:piece lengthi16384e6:pieces20:" + string(hashes(1)) + "ee")
	c["oversized-piece-length"] = torrent(dict{"name": "x", "piece length": 1 << 40, "length": 1 << 41, "pieces": hashes(2)})
	// (Files over the size limits, and an info dictionary over 16 MiB, are
	// made by the tests: they are too big to keep here.)

	// Names longer than a filesystem takes (NAME_MAX 255).
	c["long-name"] = torrent(dict{"name": strings.Repeat("n", 300), "piece length": pl, "length": 10, "pieces": hashes(1)})
	c["long-path-component"] = torrent(dict{"name": "x", "piece length": pl, "pieces": hashes(1),
		"files": []any{dict{"length": 10, "path": []any{"dir", strings.Repeat("p", 256)}}}})

	// A file and a directory at one path: "a" beside "a/b".
	c["file-dir-conflict"] = torrent(dict{"name": "x", "piece length": pl, "pieces": hashes(1),
		"files": []any{dict{"length": 10, "path": []any{"a"}}, dict{"length": 10, "path": []any{"a", "b"}}}})
	c["duplicate-file"] = torrent(dict{"name": "x", "piece length": pl, "pieces": hashes(1),
		"files": []any{dict{"length": 10, "path": []any{"a"}}, dict{"length": 10, "path": []any{"a"}}}})

	// v2-only: anacrolix v1.59.1 added it with info hash 000…0.
	c["v2-only"] = torrent(dict{"name": "x", "piece length": pl, "meta version": 2,
		"file tree": dict{"x.bin": v2file(10)}})

	// A hybrid whose v1 list is clean but whose v2 tree, which names the
	// files anacrolix stores, climbs out of the download directory.
	c["hybrid-dotdot"] = torrent(dict{"name": "x", "piece length": pl, "meta version": 2, "pieces": hashes(1),
		"files":     []any{dict{"length": 10, "path": []any{"ok.bin"}}},
		"file tree": dict{"..": dict{"evil.bin": v2file(10)}}})
	c["hybrid-absolute"] = torrent(dict{"name": "x", "piece length": pl, "meta version": 2, "pieces": hashes(1),
		"files":     []any{dict{"length": 10, "path": []any{"ok.bin"}}},
		"file tree": dict{"/etc": v2file(10)}})
	// A hybrid with fewer v1 hashes than v2 pieces: anacrolix indexed past
	// the end of the hashes (a panic with the client lock held).
	c["hybrid-piece-count"] = torrent(dict{"name": "x", "piece length": pl, "meta version": 2, "pieces": hashes(1),
		"files":     []any{dict{"length": 10, "path": []any{"a.bin"}}},
		"file tree": dict{"a.bin": v2file(10), "b.bin": v2file(10)}})

	// v1 piece count at odds with the file lengths (anacrolix refused it
	// only when adding, which the CLI reported as a runtime failure).
	c["piece-count-mismatch"] = torrent(dict{"name": "x", "piece length": pl, "length": 10, "pieces": hashes(3)})
	return c
}
