package plugin

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/kubernetes-csi/csi-test/v5/pkg/sanity"
)

// TestSanity runs the CSI community's conformance suite (csi-test's sanity package) against the
// driver over its unix socket: every call the sidecars and kubelet make, with the idempotency
// and error codes the spec requires. NodePublishVolume bind-mounts, so it needs root.
func TestSanity(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("NodePublishVolume bind-mounts: run as root")
	}
	dir := t.TempDir()
	d, err := New(Config{Name: "csi.veloxide.dev", Version: "test", NodeID: "sanity-node", StateDir: filepath.Join(dir, "state"), Capacity: 100 << 30})
	if err != nil {
		t.Fatal(err)
	}
	socket := filepath.Join(dir, "csi.sock")
	lis, err := Listen(socket)
	if err != nil {
		t.Fatal(err)
	}
	server := d.Server()
	go func() { _ = server.Serve(lis) }()
	defer server.Stop()

	cfg := sanity.NewTestConfig()
	cfg.Address = socket
	cfg.TargetPath = filepath.Join(dir, "target")
	cfg.StagingPath = filepath.Join(dir, "staging")
	cfg.TestVolumeSize = 1 << 20
	sanity.Test(t, cfg)
}
