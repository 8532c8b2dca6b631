// Package plugin is veloxide's CSI driver for tests: volumes are directories under a node's state
// dir, snapshots are copies kept beside them. It is a storage backend for the end-to-end tests,
// as moto is for S3: the product never talks to it, only to the VolumeSnapshot API that the real
// external-provisioner, snapshot-controller and csi-snapshotter drive it through.
package plugin

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
)

// Config is what one node's driver needs.
type Config struct {
	// Name is the driver name (the StorageClass's provisioner, the CSIDriver object's name).
	Name    string
	Version string
	// NodeID is the Kubernetes node the driver serves; it is also its topology segment.
	NodeID string
	// StateDir holds the volumes and snapshots.
	StateDir string
	// Capacity is the most the node's volumes may claim together, in bytes.
	Capacity int64
}

// TopologyKey labels a node with its own name: a volume is reachable only from the node whose
// state dir holds it.
const TopologyKey = "topology.csi.veloxide.dev/node"

// Driver serves the Identity, Controller and Node services over one socket.
type Driver struct {
	csi.UnimplementedIdentityServer
	csi.UnimplementedControllerServer
	csi.UnimplementedNodeServer
	csi.UnimplementedGroupControllerServer

	cfg Config
	// mu serialises every call: a test driver needs no more, and it makes each call see the
	// store as the previous call left it (what idempotent retries rely on).
	mu    sync.Mutex
	store *Store
	now   func() time.Time
}

// New opens the state dir.
func New(cfg Config) (*Driver, error) {
	if cfg.Name == "" || cfg.NodeID == "" || cfg.StateDir == "" {
		return nil, errors.New("the driver name, node id and state dir are all required")
	}
	if cfg.Capacity <= 0 {
		return nil, fmt.Errorf("capacity must be positive (got %d)", cfg.Capacity)
	}
	store, err := OpenStore(cfg.StateDir, cfg.Capacity)
	if err != nil {
		return nil, fmt.Errorf("opening the state dir %s: %w", cfg.StateDir, err)
	}
	return &Driver{cfg: cfg, store: store, now: time.Now}, nil
}

// Listen makes a unix socket at path, replacing a stale one left by an earlier run. Socket
// paths are limited to 107 bytes; a longer one is refused with that reason, not bind's EINVAL.
func Listen(path string) (net.Listener, error) {
	if len(path) > 107 {
		return nil, fmt.Errorf("socket path %s is %d bytes, more than a unix socket allows (107): use a shorter directory", path, len(path))
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	return net.Listen("unix", path)
}

// Server is a gRPC server with the three CSI services registered and every call logged.
func (d *Driver) Server() *grpc.Server {
	s := grpc.NewServer(grpc.UnaryInterceptor(logCalls))
	csi.RegisterIdentityServer(s, d)
	csi.RegisterControllerServer(s, d)
	csi.RegisterNodeServer(s, d)
	// Served only to say "no group snapshots": csi-snapshotter asks, and logs an error for an
	// Unimplemented answer.
	csi.RegisterGroupControllerServer(s, d)
	return s
}

// logCalls logs each call and how it ended, so a test that fails can be read from the driver's log.
func logCalls(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	resp, err := handler(ctx, req)
	if err != nil {
		log.Printf("%s %v: %v", info.FullMethod, req, err)
	} else {
		log.Printf("%s %v: ok", info.FullMethod, req)
	}
	return resp, err
}
