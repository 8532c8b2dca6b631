package plugin

import (
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestVolumeSize(t *testing.T) {
	const mi = 1 << 20
	for _, tc := range []struct {
		name               string
		required, limit    int64
		minimum, available int64
		want               int64
		code               codes.Code
	}{
		{name: "no range: the default", available: 10 * mi, want: DefaultVolumeSize},
		{name: "no required, a limit below the default", limit: mi / 2, available: 10 * mi, want: mi / 2},
		{name: "exactly what is required", required: 3 * mi, available: 10 * mi, want: 3 * mi},
		{name: "all that is free", required: 10 * mi, available: 10 * mi, want: 10 * mi},
		{name: "more than is free", required: 11 * mi, available: 10 * mi, code: codes.ResourceExhausted},
		{name: "required above limit", required: 2 * mi, limit: mi, available: 10 * mi, code: codes.InvalidArgument},
		{name: "negative", required: -1, available: 10 * mi, code: codes.InvalidArgument},
		{name: "a snapshot raises a small request", required: mi, minimum: 4 * mi, available: 10 * mi, want: 4 * mi},
		{name: "a snapshot larger than the limit", required: mi, limit: 2 * mi, minimum: 4 * mi, available: 10 * mi, code: codes.OutOfRange},
		{name: "a snapshot larger than what is free", minimum: 11 * mi, available: 10 * mi, code: codes.ResourceExhausted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := volumeSize(&csi.CapacityRange{RequiredBytes: tc.required, LimitBytes: tc.limit}, tc.minimum, tc.available)
			if status.Code(err) != tc.code {
				t.Fatalf("error %v, want code %v", err, tc.code)
			}
			if err == nil && got != tc.want {
				t.Fatalf("size %d, want %d", got, tc.want)
			}
		})
	}
}

func TestFits(t *testing.T) {
	v := &Volume{ID: "vol-1", Name: "a", Capacity: 5, SourceSnapshot: "snap-1"}
	for _, tc := range []struct {
		name     string
		r        *csi.CapacityRange
		source   string
		expected bool
	}{
		{"same request", &csi.CapacityRange{RequiredBytes: 5}, "snap-1", true},
		{"less required", &csi.CapacityRange{RequiredBytes: 1}, "snap-1", true},
		{"more required", &csi.CapacityRange{RequiredBytes: 6}, "snap-1", false},
		{"limit below the capacity", &csi.CapacityRange{LimitBytes: 4}, "snap-1", false},
		{"another source", &csi.CapacityRange{RequiredBytes: 5}, "snap-2", false},
		{"no source", &csi.CapacityRange{RequiredBytes: 5}, "", false},
	} {
		if got := fits(v, tc.r, tc.source); got != tc.expected {
			t.Errorf("%s: fits %v, want %v", tc.name, got, tc.expected)
		}
	}
}

func TestReachable(t *testing.T) {
	seg := func(node string) *csi.Topology { return &csi.Topology{Segments: map[string]string{TopologyKey: node}} }
	for _, tc := range []struct {
		name     string
		req      *csi.TopologyRequirement
		expected bool
	}{
		{"no requirement", nil, true},
		{"this node required", &csi.TopologyRequirement{Requisite: []*csi.Topology{seg("node-1")}}, true},
		{"another node required", &csi.TopologyRequirement{Requisite: []*csi.Topology{seg("node-2")}}, false},
		{"among several", &csi.TopologyRequirement{Requisite: []*csi.Topology{seg("node-2"), seg("node-1")}}, true},
		{"only preferred, another node", &csi.TopologyRequirement{Preferred: []*csi.Topology{seg("node-2")}}, false},
	} {
		if got := reachable(tc.req, TopologyKey, "node-1"); got != tc.expected {
			t.Errorf("%s: reachable %v, want %v", tc.name, got, tc.expected)
		}
	}
}

func TestPage(t *testing.T) {
	all := []int{0, 1, 2, 3, 4}
	for _, tc := range []struct {
		name      string
		token     string
		max       int32
		want      []int
		next      string
		wantError codes.Code
	}{
		{name: "everything", want: all},
		{name: "first two", max: 2, want: []int{0, 1}, next: "2"},
		{name: "the middle", token: "2", max: 2, want: []int{2, 3}, next: "4"},
		{name: "the last", token: "4", max: 2, want: []int{4}},
		{name: "past the end", token: "6", wantError: codes.Aborted},
		{name: "not a number", token: "x", wantError: codes.Aborted},
		{name: "negative max", max: -1, wantError: codes.InvalidArgument},
	} {
		got, next, err := page(all, tc.token, tc.max)
		if status.Code(err) != tc.wantError {
			t.Errorf("%s: error %v, want code %v", tc.name, err, tc.wantError)
			continue
		}
		if err == nil && (len(got) != len(tc.want) || next != tc.next || (len(got) > 0 && got[0] != tc.want[0])) {
			t.Errorf("%s: got %v next %q, want %v next %q", tc.name, got, next, tc.want, tc.next)
		}
	}
}

func TestUnescapeOctal(t *testing.T) {
	for in, want := range map[string]string{
		`/a/b`:             "/a/b",
		`/a\040b`:          "/a b",
		`/a\134b`:          `/a\b`,
		`/tail\04`:         `/tail\04`,
		`/x\011y\012z`:     "/x\ty\nz",
		`/not\octal\999is`: `/not\octal\999is`,
	} {
		if got := unescapeOctal(in); got != want {
			t.Errorf("unescapeOctal(%q) = %q, want %q", in, got, want)
		}
	}
}
