package plugin

import (
	"context"
	"log"

	"google.golang.org/grpc"
	registration "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

// Registration answers kubelet's plugin watcher, which node-driver-registrar does in a real
// deployment (it is not served by the module proxy): kubelet finds a socket in its
// plugins_registry directory, asks GetInfo for the driver's name and CSI endpoint, calls
// NodeGetInfo on that endpoint (writing the CSINode object and the Node's topology label), and
// reports the outcome through NotifyRegistrationStatus.
type Registration struct {
	registration.UnimplementedRegistrationServer

	// DriverName and Endpoint (the CSI socket's path, as kubelet on this host sees it).
	DriverName string
	Endpoint   string
	// Done receives kubelet's verdict once: nil when registered, else the error kubelet gave.
	Done chan error
}

// Server is a gRPC server with the registration service on it.
func (r *Registration) Server() *grpc.Server {
	s := grpc.NewServer()
	registration.RegisterRegistrationServer(s, r)
	return s
}

// GetInfo tells kubelet what plugin this is and where its CSI socket is.
func (r *Registration) GetInfo(context.Context, *registration.InfoRequest) (*registration.PluginInfo, error) {
	log.Printf("kubelet asked for the plugin info: %s at %s", r.DriverName, r.Endpoint)
	return &registration.PluginInfo{
		Type:              registration.CSIPlugin,
		Name:              r.DriverName,
		Endpoint:          r.Endpoint,
		SupportedVersions: []string{"1.0.0"},
	}, nil
}

// NotifyRegistrationStatus hands kubelet's verdict to whoever waits on Done.
func (r *Registration) NotifyRegistrationStatus(_ context.Context, s *registration.RegistrationStatus) (*registration.RegistrationStatusResponse, error) {
	var err error
	if !s.GetPluginRegistered() {
		err = &RegistrationError{Reason: s.GetError()}
	}
	select {
	case r.Done <- err:
	default: // a verdict was handed over already; kubelet may register again after a restart
		if err != nil {
			log.Printf("kubelet refused the plugin again: %v", err)
		} else {
			log.Printf("kubelet registered the plugin again")
		}
	}
	return &registration.RegistrationStatusResponse{}, nil
}

// RegistrationError is kubelet's refusal, in its words.
type RegistrationError struct{ Reason string }

func (e *RegistrationError) Error() string { return "kubelet did not register the plugin: " + e.Reason }
