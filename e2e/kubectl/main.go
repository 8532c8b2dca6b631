// Command kubectl is the upstream kubectl (k8s.io/kubectl) at the Kubernetes release the control
// plane is built from (e2e/controlplane), so the demo and the tests talk to the API server with a
// client of its own minor version and `kubectl version` has no skew to warn about.
// e2e/tools/build-kubectl.sh builds it and refuses a go.mod whose version differs from the
// control plane's.
package main

import (
	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"
)

func main() {
	// RunNoErrOutput leaves the error to CheckErr, which prints it the way kubectl users know.
	if err := cli.RunNoErrOutput(cmd.NewDefaultKubectlCommand()); err != nil {
		util.CheckErr(err)
	}
}
