package main

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smspin/idp/config"
	"github.com/smspin/idp/idp/admin"
)

var methods = []string{"get", "post", "put", "patch", "delete"}

// openapiOps lists the operations of the admin API's OpenAPI document as
// "METHOD /admin/v1/path/{param}".
func openapiOps(t *testing.T, raw []byte) []string {
	t.Helper()
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Servers []struct{ URL string }                `json:"servers"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if doc.OpenAPI != "3.1.0" || len(doc.Servers) != 1 || doc.Servers[0].URL != admin.Prefix {
		t.Fatalf("openapi %q, servers %v; want 3.1.0 on %s", doc.OpenAPI, doc.Servers, admin.Prefix)
	}
	var ops []string
	for path, item := range doc.Paths {
		for m, raw := range item {
			if m == "parameters" {
				continue
			}
			if !slices.Contains(methods, m) {
				t.Errorf("%s: %q is not an HTTP method", path, m)
				continue
			}
			var op struct {
				OperationID string                     `json:"operationId"`
				Responses   map[string]json.RawMessage `json:"responses"`
			}
			json.Unmarshal(raw, &op)
			if op.OperationID == "" || op.Responses["401"] == nil {
				t.Errorf("%s %s: needs an operationId and the 401 answer", m, path)
			}
			ops = append(ops, strings.ToUpper(m)+" "+admin.Prefix+path)
		}
	}
	slices.Sort(ops)
	// Every reference points at something in the document.
	var whole map[string]any
	json.Unmarshal(raw, &whole)
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if r, ok := v["$ref"].(string); ok {
				var at any = whole
				for _, part := range strings.Split(strings.TrimPrefix(r, "#/"), "/") {
					m, _ := at.(map[string]any)
					at = m[part]
				}
				if at == nil {
					t.Errorf("openapi.json: $ref %s points at nothing", r)
				}
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(whole)
	return ops
}

// The OpenAPI document and the router agree: every documented operation
// is a route, and every route is documented.
func TestOpenAPIMatchesTheRoutes(t *testing.T) {
	ops := openapiOps(t, admin.OpenAPI())
	routes := (&app{}).adminAPI(config.Config{}, nil).Patterns()
	slices.Sort(routes)
	for _, r := range routes {
		if !slices.Contains(ops, r) {
			t.Errorf("route %s is not in openapi.json", r)
		}
	}
	for _, o := range ops {
		if !slices.Contains(routes, o) {
			t.Errorf("openapi.json documents %s, which is no route", o)
		}
	}
}

// Over HTTP on a running server: the document is served, and each
// operation it names reaches a handler (not the "no such route" answer)
// that answers JSON without a server error, even with no body.
func TestOpenAPIOperationsAnswer(t *testing.T) {
	const token = "admin-token-0123456789-0123456789"
	newCLI(t)
	t.Setenv("IDP_ADMIN_LISTEN", "127.0.0.1:0")
	t.Setenv("IDP_ADMIN_TOKEN", token)
	s := startServe(t, "--dev", "--listen", "127.0.0.1:0")
	code, body := get(t, "http://"+s.admin+admin.Prefix+"/openapi.json", token)
	if code != http.StatusOK {
		t.Fatalf("openapi.json: %d", code)
	}
	if code, _ := get(t, "http://"+s.admin+admin.Prefix+"/openapi.json", ""); code != http.StatusUnauthorized {
		t.Errorf("openapi.json without the token: %d, want 401", code)
	}
	for _, op := range openapiOps(t, []byte(body)) {
		method, path, _ := strings.Cut(op, " ")
		path = strings.NewReplacer("{user}", "nobody", "{id}", "nothing", "{factor}", "recovery_codes").Replace(path)
		req, _ := http.NewRequest(method, "http://"+s.admin+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode >= 500 || resp.StatusCode == http.StatusMethodNotAllowed:
			t.Errorf("%s: %d %s", op, resp.StatusCode, raw)
		case strings.Contains(string(raw), "no such route"):
			t.Errorf("%s: no handler: %s", op, raw)
		case !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || !json.Valid(raw):
			t.Errorf("%s: %d not JSON (%s): %s", op, resp.StatusCode, resp.Header.Get("Content-Type"), raw)
		}
	}
	// The key rotated through the API (an operation above) is published.
	var rotated struct{ Kid string }
	req, _ := http.NewRequest("POST", "http://"+s.admin+admin.Prefix+"/keys/rotate", strings.NewReader(`{"alg":"ES256"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&rotated)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || rotated.Kid == "" {
		t.Fatalf("keys/rotate: %d %+v", resp.StatusCode, rotated)
	}
	if _, jwks := get(t, loopbackURL(s.addr, "/.well-known/jwks.json"), ""); !strings.Contains(jwks, rotated.Kid) {
		t.Errorf("the new key %s is not in the JWKS:\n%s", rotated.Kid, jwks)
	}
	req, _ = http.NewRequest("POST", "http://"+s.admin+admin.Prefix+"/keys/rotate", strings.NewReader(`{"alg":"HS256"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	if resp, err = http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("keys/rotate with HS256: %v %v, want 400", resp.StatusCode, err)
	}
}
