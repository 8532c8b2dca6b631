package plugin

import (
	"fmt"
	"strconv"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The pure decisions of the Controller and Node services, apart from the store and the gRPC
// plumbing, so they can be tested in a table (decide_test.go).

// DefaultVolumeSize is what a CreateVolume with no capacity range gets.
const DefaultVolumeSize int64 = 1 << 20

// volumeSize decides the capacity of a new volume from the request's range, the smallest a
// source snapshot allows (0 with none) and the node's free capacity.
func volumeSize(r *csi.CapacityRange, minimum, available int64) (int64, error) {
	required, limit := r.GetRequiredBytes(), r.GetLimitBytes()
	if required < 0 || limit < 0 {
		return 0, status.Errorf(codes.InvalidArgument, "capacity_range: required_bytes (%d) and limit_bytes (%d) must not be negative", required, limit)
	}
	if limit > 0 && required > limit {
		return 0, status.Errorf(codes.InvalidArgument, "capacity_range: required_bytes (%d) is more than limit_bytes (%d)", required, limit)
	}
	size := required
	if size == 0 {
		size = DefaultVolumeSize
		if limit > 0 && limit < size {
			size = limit
		}
	}
	if size < minimum {
		if limit > 0 && limit < minimum {
			return 0, status.Errorf(codes.OutOfRange, "capacity_range: the source snapshot holds %d bytes, more than limit_bytes (%d)", minimum, limit)
		}
		size = minimum
	}
	if size > available {
		return 0, status.Errorf(codes.ResourceExhausted, "%d bytes requested, %d bytes free on this node", size, available)
	}
	return size, nil
}

// fits says whether an existing volume satisfies a repeated CreateVolume (same name).
func fits(v *Volume, r *csi.CapacityRange, source string) bool {
	if v.SourceSnapshot != source {
		return false
	}
	if r.GetRequiredBytes() > v.Capacity {
		return false
	}
	return r.GetLimitBytes() == 0 || v.Capacity <= r.GetLimitBytes()
}

// checkCapabilities accepts filesystem volumes used from one node: the data lives in a node's
// directory, and there is no raw block device to hand out.
func checkCapabilities(caps []*csi.VolumeCapability) error {
	if len(caps) == 0 {
		return status.Error(codes.InvalidArgument, "volume_capabilities: at least one is required")
	}
	for _, c := range caps {
		if msg := unsupported(c); msg != "" {
			return status.Errorf(codes.InvalidArgument, "volume_capabilities: %s", msg)
		}
	}
	return nil
}

// unsupported says why a capability cannot be served ("" when it can).
func unsupported(c *csi.VolumeCapability) string {
	if c == nil {
		return "a capability is empty"
	}
	if c.GetBlock() != nil {
		return "block access is not supported (volumes are directories); use a filesystem volume"
	}
	if c.GetMount() == nil {
		return "access_type must be mount"
	}
	switch c.GetAccessMode().GetMode() {
	case csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER,
		csi.VolumeCapability_AccessMode_SINGLE_NODE_READER_ONLY,
		csi.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER,
		csi.VolumeCapability_AccessMode_SINGLE_NODE_MULTI_WRITER:
		return ""
	default:
		return fmt.Sprintf("access mode %s is not supported (a volume lives on one node)", c.GetAccessMode().GetMode())
	}
}

// reachable says whether a volume made on this node satisfies the request's topology: with
// requirements, this node's segment must be among the requisite ones (or the preferred ones,
// when no requisite is given).
func reachable(req *csi.TopologyRequirement, key, node string) bool {
	if req == nil {
		return true
	}
	list := req.GetRequisite()
	if len(list) == 0 {
		list = req.GetPreferred()
	}
	if len(list) == 0 {
		return true
	}
	for _, t := range list {
		if t.GetSegments()[key] == node {
			return true
		}
	}
	return false
}

// page cuts a listing at a starting token (an index into it, as earlier pages handed out) and a
// maximum number of entries; the next token is "" on the last page.
func page[T any](all []T, token string, max int32) ([]T, string, error) {
	start := 0
	if token != "" {
		n, err := strconv.Atoi(token)
		if err != nil || n < 0 || n > len(all) {
			return nil, "", status.Errorf(codes.Aborted, "starting_token %q is not one this driver handed out", token)
		}
		start = n
	}
	if max < 0 {
		return nil, "", status.Errorf(codes.InvalidArgument, "max_entries must not be negative (got %d)", max)
	}
	end := len(all)
	if max > 0 && start+int(max) < end {
		end = start + int(max)
	}
	next := ""
	if end < len(all) {
		next = strconv.Itoa(end)
	}
	return all[start:end], next, nil
}
