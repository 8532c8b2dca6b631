package plugin

import (
	"context"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// ControllerGetCapabilities: volumes and snapshots are made and deleted, snapshots listed, free
// capacity reported (the provisioner publishes it as CSIStorageCapacity when asked to).
func (d *Driver) ControllerGetCapabilities(context.Context, *csi.ControllerGetCapabilitiesRequest) (*csi.ControllerGetCapabilitiesResponse, error) {
	resp := &csi.ControllerGetCapabilitiesResponse{}
	for _, c := range []csi.ControllerServiceCapability_RPC_Type{
		csi.ControllerServiceCapability_RPC_CREATE_DELETE_VOLUME,
		csi.ControllerServiceCapability_RPC_CREATE_DELETE_SNAPSHOT,
		csi.ControllerServiceCapability_RPC_LIST_SNAPSHOTS,
		csi.ControllerServiceCapability_RPC_GET_CAPACITY,
	} {
		resp.Capabilities = append(resp.Capabilities, &csi.ControllerServiceCapability{
			Type: &csi.ControllerServiceCapability_Rpc{Rpc: &csi.ControllerServiceCapability_RPC{Type: c}},
		})
	}
	return resp, nil
}

// CreateVolume makes a directory (empty, or a copy of a snapshot's). A repeated call with the
// same name returns the same volume when it still fits the request, as the spec requires.
func (d *Driver) CreateVolume(_ context.Context, req *csi.CreateVolumeRequest) (*csi.CreateVolumeResponse, error) {
	if req.GetName() == "" {
		return nil, status.Error(codes.InvalidArgument, "name is required")
	}
	if err := checkCapabilities(req.GetVolumeCapabilities()); err != nil {
		return nil, err
	}
	if req.GetVolumeContentSource().GetVolume() != nil {
		return nil, status.Error(codes.InvalidArgument, "volume_content_source: cloning a volume is not supported; create a snapshot and a volume from it")
	}
	if !reachable(req.GetAccessibilityRequirements(), TopologyKey, d.cfg.NodeID) {
		return nil, status.Errorf(codes.ResourceExhausted, "accessibility_requirements: this driver serves node %s only, which the request does not allow", d.cfg.NodeID)
	}
	sourceID := req.GetVolumeContentSource().GetSnapshot().GetSnapshotId()

	d.mu.Lock()
	defer d.mu.Unlock()
	if v := d.store.VolumeByName(req.GetName()); v != nil {
		if !fits(v, req.GetCapacityRange(), sourceID) {
			return nil, status.Errorf(codes.AlreadyExists, "volume %q exists as %s with %d bytes from snapshot %q, which the request does not match", v.Name, v.ID, v.Capacity, v.SourceSnapshot)
		}
		return d.volumeResponse(v, req.GetVolumeContentSource()), nil
	}
	var source *Snapshot
	var minimum int64
	if sourceID != "" {
		if source = d.store.Snapshot(sourceID); source == nil {
			return nil, status.Errorf(codes.NotFound, "volume_content_source: snapshot %s does not exist on node %s", sourceID, d.cfg.NodeID)
		}
		minimum = source.Size
	}
	size, err := volumeSize(req.GetCapacityRange(), minimum, d.store.Available())
	if err != nil {
		return nil, err
	}
	v, err := d.store.CreateVolume(req.GetName(), size, source)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "creating volume %q: %v", req.GetName(), err)
	}
	return d.volumeResponse(v, req.GetVolumeContentSource()), nil
}

func (d *Driver) volumeResponse(v *Volume, source *csi.VolumeContentSource) *csi.CreateVolumeResponse {
	return &csi.CreateVolumeResponse{Volume: &csi.Volume{
		VolumeId:           v.ID,
		CapacityBytes:      v.Capacity,
		ContentSource:      source,
		AccessibleTopology: []*csi.Topology{{Segments: map[string]string{TopologyKey: d.cfg.NodeID}}},
	}}
}

// DeleteVolume removes a volume's directory; a volume that is gone already is success.
func (d *Driver) DeleteVolume(_ context.Context, req *csi.DeleteVolumeRequest) (*csi.DeleteVolumeResponse, error) {
	if req.GetVolumeId() == "" {
		return nil, status.Error(codes.InvalidArgument, "volume_id is required")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.store.Volume(req.GetVolumeId()) == nil {
		return &csi.DeleteVolumeResponse{}, nil
	}
	if err := d.store.DeleteVolume(req.GetVolumeId()); err != nil {
		return nil, status.Errorf(codes.Internal, "deleting volume %s: %v", req.GetVolumeId(), err)
	}
	return &csi.DeleteVolumeResponse{}, nil
}

// ValidateVolumeCapabilities confirms what checkCapabilities accepts.
func (d *Driver) ValidateVolumeCapabilities(_ context.Context, req *csi.ValidateVolumeCapabilitiesRequest) (*csi.ValidateVolumeCapabilitiesResponse, error) {
	if req.GetVolumeId() == "" {
		return nil, status.Error(codes.InvalidArgument, "volume_id is required")
	}
	if len(req.GetVolumeCapabilities()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "volume_capabilities: at least one is required")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.store.Volume(req.GetVolumeId()) == nil {
		return nil, status.Errorf(codes.NotFound, "volume %s does not exist on node %s", req.GetVolumeId(), d.cfg.NodeID)
	}
	if err := checkCapabilities(req.GetVolumeCapabilities()); err != nil {
		return &csi.ValidateVolumeCapabilitiesResponse{Message: status.Convert(err).Message()}, nil
	}
	return &csi.ValidateVolumeCapabilitiesResponse{Confirmed: &csi.ValidateVolumeCapabilitiesResponse_Confirmed{
		VolumeContext:      req.GetVolumeContext(),
		VolumeCapabilities: req.GetVolumeCapabilities(),
		Parameters:         req.GetParameters(),
	}}, nil
}

// GetCapacity reports what volumes have not claimed of the node's capacity.
func (d *Driver) GetCapacity(_ context.Context, req *csi.GetCapacityRequest) (*csi.GetCapacityResponse, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if t := req.GetAccessibleTopology(); t != nil && t.GetSegments()[TopologyKey] != d.cfg.NodeID {
		return &csi.GetCapacityResponse{}, nil
	}
	return &csi.GetCapacityResponse{
		AvailableCapacity: d.store.Available(),
		MaximumVolumeSize: wrapperspb.Int64(d.store.Capacity()),
	}, nil
}

// CreateSnapshot copies a volume's directory. A repeated call (same name, same source) returns
// the snapshot already taken; the same name for another volume is AlreadyExists.
func (d *Driver) CreateSnapshot(_ context.Context, req *csi.CreateSnapshotRequest) (*csi.CreateSnapshotResponse, error) {
	if req.GetName() == "" {
		return nil, status.Error(codes.InvalidArgument, "name is required")
	}
	if req.GetSourceVolumeId() == "" {
		return nil, status.Error(codes.InvalidArgument, "source_volume_id is required")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if sn := d.store.SnapshotByName(req.GetName()); sn != nil {
		if sn.SourceVolume != req.GetSourceVolumeId() {
			return nil, status.Errorf(codes.AlreadyExists, "snapshot %q exists as %s of volume %s, not of %s", sn.Name, sn.ID, sn.SourceVolume, req.GetSourceVolumeId())
		}
		return &csi.CreateSnapshotResponse{Snapshot: snapshotMessage(sn)}, nil
	}
	v := d.store.Volume(req.GetSourceVolumeId())
	if v == nil {
		return nil, status.Errorf(codes.NotFound, "source_volume_id: volume %s does not exist on node %s", req.GetSourceVolumeId(), d.cfg.NodeID)
	}
	sn, err := d.store.CreateSnapshot(req.GetName(), v, d.now(), req.GetParameters()[NeverReadyParameter] == "true")
	if err != nil {
		return nil, status.Errorf(codes.Internal, "snapshotting volume %s: %v", v.ID, err)
	}
	return &csi.CreateSnapshotResponse{Snapshot: snapshotMessage(sn)}, nil
}

// DeleteSnapshot removes a snapshot's copy; one that is gone already is success.
func (d *Driver) DeleteSnapshot(_ context.Context, req *csi.DeleteSnapshotRequest) (*csi.DeleteSnapshotResponse, error) {
	if req.GetSnapshotId() == "" {
		return nil, status.Error(codes.InvalidArgument, "snapshot_id is required")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.store.Snapshot(req.GetSnapshotId()) == nil {
		return &csi.DeleteSnapshotResponse{}, nil
	}
	if err := d.store.DeleteSnapshot(req.GetSnapshotId()); err != nil {
		return nil, status.Errorf(codes.Internal, "deleting snapshot %s: %v", req.GetSnapshotId(), err)
	}
	return &csi.DeleteSnapshotResponse{}, nil
}

// ListSnapshots lists every snapshot, or the one with an id, or those of one volume, in pages.
func (d *Driver) ListSnapshots(_ context.Context, req *csi.ListSnapshotsRequest) (*csi.ListSnapshotsResponse, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var chosen []*Snapshot
	for _, sn := range d.store.Snapshots() {
		if id := req.GetSnapshotId(); id != "" && sn.ID != id {
			continue
		}
		if src := req.GetSourceVolumeId(); src != "" && sn.SourceVolume != src {
			continue
		}
		chosen = append(chosen, sn)
	}
	got, next, err := page(chosen, req.GetStartingToken(), req.GetMaxEntries())
	if err != nil {
		return nil, err
	}
	resp := &csi.ListSnapshotsResponse{NextToken: next}
	for _, sn := range got {
		resp.Entries = append(resp.Entries, &csi.ListSnapshotsResponse_Entry{Snapshot: snapshotMessage(sn)})
	}
	return resp, nil
}

// snapshotMessage: a copy is complete when CreateSnapshot returns, so it is ready at once.
func snapshotMessage(sn *Snapshot) *csi.Snapshot {
	return &csi.Snapshot{
		SnapshotId:     sn.ID,
		SourceVolumeId: sn.SourceVolume,
		SizeBytes:      sn.Size,
		CreationTime:   timestamppb.New(sn.CreatedAt),
		ReadyToUse:     !sn.NeverReady,
	}
}

// NeverReadyParameter, set to "true" in a VolumeSnapshotClass's parameters, makes the driver
// take the snapshot but report it not ready to use for ever: the knob tests use to see what a
// backup does with a snapshot that never becomes ready (e2e/csi/README.md).
const NeverReadyParameter = "csi.veloxide.dev/never-ready"
