// Command kube-apiserver is the upstream API server, built from k8s.io/kubernetes at the
// release go.mod pins, for veloxide's tests (e2e/tools/control-plane.sh).
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
