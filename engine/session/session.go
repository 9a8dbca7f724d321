// Package session remembers the torrents of one download directory across
// restarts: what each torrent came from (a magnet URI, an info hash, or
// metainfo bytes), where its data goes, its file priorities, whether it was
// paused, when it was added, its seeding limits and the payload it moved.
//
// Layout: one directory (swarmscope uses DIR/.swarmscope/session, beside the
// piece state in DIR/.swarmscope/state) holding, per torrent,
//
//	<infohash>.json     the Record
//	<infohash>.torrent  metainfo (a .torrent's bytes, or a magnet's info
//	                    dictionary once peers sent it)
//
// One file per torrent, so a torrent that changes rewrites only its own
// record and a damaged file costs one torrent, not the session. Every write
// is atomic (a temporary file in the same directory, fsync, rename, fsync
// of the directory): a process killed at any instant leaves either the old
// or the new file, never a torn one.
package session

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Version is the record format; a record of another version is reported
// and skipped, never misread.
const Version = 1

// maxRecordSize bounds a record read from disk; real ones are a few KiB
// (one short word per file of the torrent).
const maxRecordSize = 64 << 20

// Record is what the session keeps of one torrent. Only plain values: the
// engine decides what they mean.
type Record struct {
	Version  int    `json:"version"`
	InfoHash string `json:"infohash"` // lower-case 40-hex v1 info hash
	// Source is what the user added: a magnet URI, a 40-hex info hash or
	// the path of a .torrent file (then only informative: the bytes are in
	// <infohash>.torrent).
	Source string `json:"source"`
	Kind   string `json:"kind"` // "magnet", "torrent-file", "infohash"
	Name   string `json:"name,omitempty"`
	// Dir is the download directory the torrent's data is in.
	Dir     string    `json:"dir"`
	AddedAt time.Time `json:"added_at"`
	Paused  bool      `json:"paused"`
	// Priorities holds one word per file ("skip", "normal", "high"); empty
	// until the metadata is known or while every file is normal.
	Priorities []string `json:"priorities,omitempty"`
	// Seeding limits; zero means the global flag decides.
	SeedRatio float64       `json:"seed_ratio,omitempty"`
	SeedTime  time.Duration `json:"seed_time_ns,omitempty"`
	// Payload moved in earlier runs, so that the ratio spans restarts.
	Uploaded   int64 `json:"uploaded"`
	Downloaded int64 `json:"downloaded"`
	// SeedingFor is how long the torrent has seeded in earlier runs.
	SeedingFor time.Duration `json:"seeding_for_ns,omitempty"`
	// Finished: a seeding limit was reached; the torrent stays stopped.
	Finished bool `json:"finished,omitempty"`
}

// Store is one session directory.
type Store struct {
	dir string
}

// Open makes the directory if needed and removes temporary files a killed
// process left behind.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("session directory: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("session directory: %w", err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	return &Store{dir: dir}, nil
}

// Dir is the session directory.
func (s *Store) Dir() string { return s.dir }

// MetainfoPath is where the torrent's metainfo bytes are kept.
func (s *Store) MetainfoPath(ih string) string { return filepath.Join(s.dir, ih+".torrent") }

func (s *Store) recordPath(ih string) string { return filepath.Join(s.dir, ih+".json") }

// HasMetainfo reports whether metainfo bytes are kept for the torrent.
func (s *Store) HasMetainfo(ih string) bool {
	fi, err := os.Stat(s.MetainfoPath(ih))
	return err == nil && fi.Mode().IsRegular() && fi.Size() > 0
}

// Problem is a session file that could not be used; the others still are.
type Problem struct {
	File string
	Err  error
}

func (p Problem) Error() string { return fmt.Sprintf("session file %s: %v", p.File, p.Err) }

// Load reads every record, oldest first. Files it cannot use are returned
// as problems, not errors: one damaged file must not cost the session.
func (s *Store) Load() ([]Record, []Problem, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, nil, fmt.Errorf("reading session directory: %w", err)
	}
	var recs []Record
	var probs []Problem
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, ".json") || strings.HasPrefix(name, tmpPrefix) {
			continue
		}
		r, err := s.read(filepath.Join(s.dir, name))
		if err == nil && r.InfoHash+".json" != name {
			err = fmt.Errorf("names info hash %s", r.InfoHash)
		}
		if err != nil {
			probs = append(probs, Problem{File: filepath.Join(s.dir, name), Err: err})
			continue
		}
		recs = append(recs, r)
	}
	sort.SliceStable(recs, func(i, j int) bool {
		if !recs[i].AddedAt.Equal(recs[j].AddedAt) {
			return recs[i].AddedAt.Before(recs[j].AddedAt)
		}
		return recs[i].InfoHash < recs[j].InfoHash
	})
	return recs, probs, nil
}

func (s *Store) read(path string) (Record, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return Record{}, err
	}
	if !fi.Mode().IsRegular() {
		return Record{}, errors.New("not a regular file")
	}
	if fi.Size() > maxRecordSize {
		return Record{}, fmt.Errorf("%d bytes is more than a record can be", fi.Size())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return Record{}, err
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return Record{}, fmt.Errorf("corrupt: %v", err)
	}
	if r.Version != Version {
		return Record{}, fmt.Errorf("record version %d, this swarmscope reads %d", r.Version, Version)
	}
	if !ValidInfoHash(r.InfoHash) {
		return Record{}, fmt.Errorf("info hash %q is not 40 lower-case hex digits", r.InfoHash)
	}
	return r, nil
}

// ValidInfoHash reports whether ih is 40 lower-case hex digits; only such
// names become file names here.
func ValidInfoHash(ih string) bool {
	if len(ih) != 40 || strings.ToLower(ih) != ih {
		return false
	}
	_, err := hex.DecodeString(ih)
	return err == nil
}

// Save writes r atomically.
func (s *Store) Save(r Record) error {
	if !ValidInfoHash(r.InfoHash) {
		return fmt.Errorf("session: info hash %q is not 40 lower-case hex digits", r.InfoHash)
	}
	r.Version = Version
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("session: encoding %s: %w", r.InfoHash, err)
	}
	return writeAtomic(s.dir, r.InfoHash+".json", append(b, '\n'))
}

// SaveMetainfo keeps the torrent's metainfo bytes, atomically.
func (s *Store) SaveMetainfo(ih string, b []byte) error {
	if !ValidInfoHash(ih) {
		return fmt.Errorf("session: info hash %q is not 40 lower-case hex digits", ih)
	}
	return writeAtomic(s.dir, ih+".torrent", b)
}

// Remove forgets a torrent: the record first, so that a crash between the
// two removals leaves an orphan metainfo file, never a record whose
// metainfo is gone.
func (s *Store) Remove(ih string) error {
	if !ValidInfoHash(ih) {
		return fmt.Errorf("session: info hash %q is not 40 lower-case hex digits", ih)
	}
	var errs []error
	for _, p := range []string{s.recordPath(ih), s.MetainfoPath(ih)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("session: %w", err))
		}
	}
	if err := syncDir(s.dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

const tmpPrefix = ".tmp-"

// writeAtomic replaces dir/name with data so that a crash at any instant
// leaves either the old file or the new one: write a temporary file in the
// same directory, fsync it, rename it over the old one, fsync the directory
// (so the rename itself is durable).
func writeAtomic(dir, name string, data []byte) (err error) {
	f, err := os.CreateTemp(dir, tmpPrefix+name+"-*")
	if err != nil {
		return fmt.Errorf("session: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("session: writing %s: %w", name, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("session: syncing %s: %w", name, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("session: closing %s: %w", name, err)
	}
	if err = os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("session: %w", err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("session: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("session: syncing directory: %w", err)
	}
	return nil
}
