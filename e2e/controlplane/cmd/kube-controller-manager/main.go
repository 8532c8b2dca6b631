// Command kube-controller-manager is the upstream controller manager (namespace, garbage
// collector, service-account controllers and the rest), built for veloxide's tests.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

func main() {
	os.Exit(cli.Run(app.NewControllerManagerCommand()))
}
