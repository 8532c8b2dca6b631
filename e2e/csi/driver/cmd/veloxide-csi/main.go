// Command veloxide-csi is the CSI driver of veloxide's end-to-end tests, run as a host process on
// each node by e2e/tools/csi.sh (see e2e/csi/README.md).
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"k8s.io/apimachinery/pkg/api/resource"

	"veloxide.dev/e2e/csi/driver/plugin"
)

var version = "dev"

func main() {
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	if err := run(); err != nil {
		log.Printf("veloxide-csi: %v", err)
		os.Exit(1)
	}
}

func run() error {
	name := flag.String("driver-name", "csi.veloxide.dev", "the CSI driver name")
	endpoint := flag.String("endpoint", "", "the path of the CSI socket to serve")
	registrationDir := flag.String("registration-dir", "", "kubelet's plugins_registry directory; empty: do not register with kubelet (the sanity test)")
	nodeID := flag.String("node-id", "", "the Kubernetes node this driver serves")
	stateDir := flag.String("state-dir", "", "where volumes and snapshots are kept")
	capacity := flag.String("capacity", "1Gi", "the most the node's volumes may claim together (a Kubernetes quantity)")
	flag.Parse()
	if *endpoint == "" || *nodeID == "" || *stateDir == "" {
		return errors.New("--endpoint, --node-id and --state-dir are required")
	}
	q, err := resource.ParseQuantity(*capacity)
	if err != nil {
		return fmt.Errorf("--capacity %q: %v (write a quantity such as 1Gi or 500Mi)", *capacity, err)
	}
	d, err := plugin.New(plugin.Config{Name: *name, Version: version, NodeID: *nodeID, StateDir: *stateDir, Capacity: q.Value()})
	if err != nil {
		return err
	}
	lis, err := plugin.Listen(*endpoint)
	if err != nil {
		return err
	}
	csiServer := d.Server()
	errs := make(chan error, 2)
	go func() { errs <- csiServer.Serve(lis) }()
	log.Printf("serving %s %s for node %s on %s (state in %s, capacity %s)", *name, version, *nodeID, *endpoint, *stateDir, *capacity)

	// Registering is the last step: kubelet calls the CSI socket as soon as it has the endpoint.
	registered := make(chan error, 1)
	if *registrationDir != "" {
		reg := &plugin.Registration{DriverName: *name, Endpoint: *endpoint, Done: registered}
		regPath := filepath.Join(*registrationDir, *name+"-reg.sock")
		regLis, err := plugin.Listen(regPath)
		if err != nil {
			return err
		}
		regServer := reg.Server()
		defer func() { regServer.Stop(); _ = os.Remove(regPath) }()
		go func() { errs <- regServer.Serve(regLis) }()
		log.Printf("waiting for kubelet at %s", regPath)
	}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	for {
		select {
		case err := <-registered:
			if err != nil {
				// As node-driver-registrar does: a refused registration is fatal, and loud.
				return err
			}
			log.Printf("kubelet registered %s", *name)
		case err := <-errs:
			return err
		case s := <-stop:
			log.Printf("%v: stopping", s)
			csiServer.GracefulStop()
			_ = os.Remove(*endpoint)
			return nil
		}
	}
}
