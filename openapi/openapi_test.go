package openapi

import (
	"strings"
	"testing"
	"time"
)

func load(t *testing.T, file string) []Route {
	t.Helper()
	d, err := Load(Spec{File: file, Path: "testdata/" + file, PathPrefix: "/v1", Auth: "from_spec", Body: true, Params: true, Now: time.Unix(1700000000, 0)})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Files) != 2 {
		t.Fatalf("files %v: want the document and common/asset.yaml", d.Files)
	}
	return d.Routes
}

func TestLoad30(t *testing.T) {
	rs := load(t, "v30.yaml")
	if len(rs) != 1 || rs[0].Path != "/v1/assets/{id}" || len(rs[0].Operations) != 2 {
		t.Fatalf("routes %+v", rs)
	}
	get, put := rs[0].Operations[0], rs[0].Operations[1]
	if get.Method != "GET" || get.Auth || put.Method != "PUT" || !put.Auth || strings.Join(put.Scopes, ",") != "assets:write" {
		t.Fatalf("ops %+v %+v", get, put)
	}
	if put.Body == nil || !put.BodyRequired {
		t.Fatal("PUT has no body schema")
	}
	// nullable: true → null is allowed; exclusiveMinimum: true → size > 0.
	if vs, err := put.Body.Validate([]byte(`{"name":null}`)); err != nil || len(vs) != 0 {
		t.Fatalf("nullable: %v %v", vs, err)
	}
	vs, err := put.Body.Validate([]byte(`{"name":"a","size":0}`))
	if err != nil || len(vs) != 1 || vs[0].Pointer != "/size" {
		t.Fatalf("exclusiveMinimum: %v %v", vs, err)
	}
	pv, err := get.Params.Check(fakeSource{path: "0"})
	if err != nil || len(pv) != 1 || pv[0].Pointer != "/path/id" {
		t.Fatalf("path param: %v %v", pv, err)
	}
}

func TestLoad31(t *testing.T) {
	rs := load(t, "v31.yaml")
	post := rs[0].Operations[1]
	if post.Method != "POST" || post.Body == nil || post.BodyRequired {
		t.Fatalf("%+v", post)
	}
	if vs, _ := post.Body.Validate([]byte(`{"name":null}`)); len(vs) != 0 {
		t.Fatalf("type union: %v", vs)
	}
	if vs, _ := post.Body.Validate([]byte(`{"name":1}`)); len(vs) != 1 || vs[0].Pointer != "/name" {
		t.Fatalf("type union violation: %v", vs)
	}
	if pv, _ := post.Params.Check(fakeSource{path: "abc"}); len(pv) != 1 || pv[0].Pointer != "/path/id" {
		t.Fatalf("%v", pv)
	}
}

func TestBrokenRefPosition(t *testing.T) {
	cases := []struct{ file, want string }{
		{"broken.yaml", `broken.yaml:12:23: $ref "common/asset.yaml#/Nope" does not resolve: nothing at #/Nope in common/asset.yaml (at #/paths/~1assets/get/responses/200/content/application~1json/schema)`},
		{"broken2.yaml", `broken2.yaml:12:23: $ref "#/components/schemas/Missing" does not resolve`},
	}
	for _, c := range cases {
		_, err := Load(Spec{File: c.file, Path: "testdata/" + c.file, Auth: "from_spec"})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v\nwant %s", c.file, err, c.want)
		}
	}
}

type fakeSource struct{ path string }

func (f fakeSource) PathParam(string) []byte      { return []byte(f.path) }
func (f fakeSource) QueryValues(string) []string  { return nil }
func (f fakeSource) Header(string) ([]byte, bool) { return nil, false }
