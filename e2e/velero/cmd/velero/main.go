// Command velero is Velero's own CLI and server, built from its module at the release go.mod pins
// (with Velero's kopia replace), as a peer for veloxide's interoperability tests.
package main

import (
	"os"
	"path/filepath"

	"k8s.io/klog/v2"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/vmware-tanzu/velero/pkg/cmd"
	"github.com/vmware-tanzu/velero/pkg/cmd/velero"
)

func main() {
	defer klog.Flush()
	// `velero server` creates its controller-runtime manager without metrics options, so that
	// manager's metrics listener binds controller-runtime's default, ":8080" on every interface;
	// Velero has no flag for it. The tests bind it to loopback through this variable.
	if addr, ok := os.LookupEnv("VELERO_CONTROLLER_RUNTIME_METRICS_ADDRESS"); ok {
		metricsserver.DefaultBindAddress = addr
	}
	// Velero re-executes itself (os.Args[0]) to serve its built-in plugins: start it by
	// absolute path.
	cmd.CheckError(velero.NewCommand(filepath.Base(os.Args[0])).Execute())
}
