// Command kube-scheduler is the upstream scheduler, built for veloxide's tests: it places pods on
// the nodes of e2e/tools/control-plane.sh up DIR --nodes N.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-scheduler/app"
)

func main() {
	os.Exit(cli.Run(app.NewSchedulerCommand()))
}
