// Command kubelet is the upstream node agent, built from k8s.io/kubernetes at the release go.mod
// pins (the control plane's own version), for the nodes of veloxide's tests
// (e2e/tools/control-plane.sh up DIR --nodes N).
package main

import (
	"context"
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kubelet/app"
)

func main() {
	os.Exit(cli.Run(app.NewKubeletCommand(context.Background())))
}
