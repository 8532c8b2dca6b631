package plugin

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Volume is one provisioned volume: a directory under the state dir, and what it was made from.
type Volume struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Capacity int64  `json:"capacity"`
	// SourceSnapshot is the snapshot whose content the volume started with ("" for an empty one).
	SourceSnapshot string `json:"sourceSnapshot,omitempty"`
}

// Snapshot is a copy of a volume's directory taken at CreateSnapshot time, kept beside the volumes.
type Snapshot struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	SourceVolume string    `json:"sourceVolume"`
	Size         int64     `json:"size"`
	CreatedAt    time.Time `json:"createdAt"`
	// NeverReady: taken with the class parameter NeverReadyParameter; reported not ready to use
	// for ever (a storage backend that never finishes), for tests of snapshot timeouts.
	NeverReady bool `json:"neverReady,omitempty"`
}

// Store keeps volumes and snapshots on disk, one directory each plus a metadata file, so a
// restarted driver finds everything it made:
//
//	STATE/volumes/<id>/data      what NodePublishVolume bind-mounts into a pod
//	STATE/volumes/<id>.json      the Volume record
//	STATE/snapshots/<id>/data    a copy of a volume's data
//	STATE/snapshots/<id>.json    the Snapshot record
//
// It is not safe for concurrent use: the gRPC servers serialise calls through one mutex.
type Store struct {
	dir       string
	capacity  int64
	volumes   map[string]*Volume
	snapshots map[string]*Snapshot
}

// OpenStore reads the records under dir (creating the directories the first time).
func OpenStore(dir string, capacity int64) (*Store, error) {
	s := &Store{dir: dir, capacity: capacity, volumes: map[string]*Volume{}, snapshots: map[string]*Snapshot{}}
	for _, kind := range []string{"volumes", "snapshots"} {
		if err := os.MkdirAll(filepath.Join(dir, kind), 0o750); err != nil {
			return nil, err
		}
		records, err := filepath.Glob(filepath.Join(dir, kind, "*.json"))
		if err != nil {
			return nil, err
		}
		for _, file := range records {
			raw, err := os.ReadFile(file)
			if err != nil {
				return nil, err
			}
			if kind == "volumes" {
				v := &Volume{}
				if err := json.Unmarshal(raw, v); err != nil {
					return nil, fmt.Errorf("%s: %w", file, err)
				}
				s.volumes[v.ID] = v
			} else {
				sn := &Snapshot{}
				if err := json.Unmarshal(raw, sn); err != nil {
					return nil, fmt.Errorf("%s: %w", file, err)
				}
				s.snapshots[sn.ID] = sn
			}
		}
	}
	return s, nil
}

// Capacity is the node's total, and Available what volumes have not taken of it. Snapshots do
// not count: they stand for the copies a real backend keeps elsewhere.
func (s *Store) Capacity() int64 { return s.capacity }

// Available is the capacity no volume has claimed.
func (s *Store) Available() int64 {
	free := s.capacity
	for _, v := range s.volumes {
		free -= v.Capacity
	}
	return free
}

// VolumeByName finds a volume by the name CreateVolume was given (the idempotency key).
func (s *Store) VolumeByName(name string) *Volume {
	for _, v := range s.volumes {
		if v.Name == name {
			return v
		}
	}
	return nil
}

// Volume finds a volume by id.
func (s *Store) Volume(id string) *Volume { return s.volumes[id] }

// SnapshotByName finds a snapshot by the name CreateSnapshot was given.
func (s *Store) SnapshotByName(name string) *Snapshot {
	for _, sn := range s.snapshots {
		if sn.Name == name {
			return sn
		}
	}
	return nil
}

// Snapshot finds a snapshot by id.
func (s *Store) Snapshot(id string) *Snapshot { return s.snapshots[id] }

// Snapshots lists every snapshot, oldest first (ties by id), so paging through them is stable.
func (s *Store) Snapshots() []*Snapshot {
	all := make([]*Snapshot, 0, len(s.snapshots))
	for _, sn := range s.snapshots {
		all = append(all, sn)
	}
	sort.Slice(all, func(i, j int) bool {
		if !all[i].CreatedAt.Equal(all[j].CreatedAt) {
			return all[i].CreatedAt.Before(all[j].CreatedAt)
		}
		return all[i].ID < all[j].ID
	})
	return all
}

// VolumeData is the directory holding a volume's files.
func (s *Store) VolumeData(id string) string { return filepath.Join(s.dir, "volumes", id, "data") }

// SnapshotData is the directory holding a snapshot's copy.
func (s *Store) SnapshotData(id string) string { return filepath.Join(s.dir, "snapshots", id, "data") }

// CreateVolume makes an empty volume, or one holding a copy of snapshot from's data. The data is
// complete before the record is written, so a crash leaves no record of a half-made volume.
func (s *Store) CreateVolume(name string, capacity int64, from *Snapshot) (*Volume, error) {
	v := &Volume{ID: newID("vol"), Name: name, Capacity: capacity}
	data := s.VolumeData(v.ID)
	if from != nil {
		v.SourceSnapshot = from.ID
		if err := copyTree(s.SnapshotData(from.ID), data); err != nil {
			return nil, err
		}
	} else if err := os.MkdirAll(data, 0o777); err != nil {
		return nil, err
	} else if err := os.Chmod(data, 0o777); err != nil {
		// Any pod user may write into a fresh volume, as with an emptyDir (no fsGroup handling here).
		return nil, err
	}
	if err := writeRecord(filepath.Join(s.dir, "volumes", v.ID+".json"), v); err != nil {
		return nil, err
	}
	s.volumes[v.ID] = v
	return v, nil
}

// DeleteVolume removes a volume's record first, then its data.
func (s *Store) DeleteVolume(id string) error {
	if err := removeRecord(filepath.Join(s.dir, "volumes", id+".json")); err != nil {
		return err
	}
	delete(s.volumes, id)
	return os.RemoveAll(filepath.Join(s.dir, "volumes", id))
}

// CreateSnapshot copies a volume's data beside the volumes. Its size is the volume's capacity:
// that is what a volume restored from it must at least offer.
func (s *Store) CreateSnapshot(name string, source *Volume, now time.Time, neverReady bool) (*Snapshot, error) {
	sn := &Snapshot{ID: newID("snap"), Name: name, SourceVolume: source.ID, Size: source.Capacity, CreatedAt: now.UTC(), NeverReady: neverReady}
	if err := copyTree(s.VolumeData(source.ID), s.SnapshotData(sn.ID)); err != nil {
		return nil, err
	}
	if err := writeRecord(filepath.Join(s.dir, "snapshots", sn.ID+".json"), sn); err != nil {
		return nil, err
	}
	s.snapshots[sn.ID] = sn
	return sn, nil
}

// DeleteSnapshot removes a snapshot's record, then its copy.
func (s *Store) DeleteSnapshot(id string) error {
	if err := removeRecord(filepath.Join(s.dir, "snapshots", id+".json")); err != nil {
		return err
	}
	delete(s.snapshots, id)
	return os.RemoveAll(filepath.Join(s.dir, "snapshots", id))
}

func newID(prefix string) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return prefix + "-" + hex.EncodeToString(b)
}

// writeRecord writes through a temporary file and a rename, so a record is whole or absent.
func writeRecord(file string, record any) error {
	raw, err := json.MarshalIndent(record, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(file+".tmp", raw, 0o640); err != nil {
		return err
	}
	return os.Rename(file+".tmp", file)
}

func removeRecord(file string) error {
	if err := os.Remove(file); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// copyTree copies src's contents into dst (which must not exist) with cp -a: modes, owners,
// times, links and sparse files as they are. A half-made copy is removed.
func copyTree(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		return err
	}
	out, err := exec.Command("cp", "-a", "--", src, dst).CombinedOutput()
	if err != nil {
		_ = os.RemoveAll(dst)
		return fmt.Errorf("copying %s to %s: %v: %s", src, dst, err, strings.TrimSpace(string(out)))
	}
	return nil
}
