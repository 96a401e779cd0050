package main

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// lines decodes one JSON object a line.
func lines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var list []map[string]any
	for l := range strings.Lines(out) {
		list = append(list, decode(t, l))
	}
	return list
}

func wantUsage(t *testing.T, err error, mention string) {
	t.Helper()
	var ue usageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), mention) {
		t.Errorf("err = %v, want a usage error mentioning %q", err, mention)
	}
}

func TestUsersLifecycleCommands(t *testing.T) {
	c := newCLI(t)
	for _, name := range []string{"alice", "bob", "carol"} {
		if _, _, err := c.run("a long enough password\n", "users", "create", "--username", name, "--phone", "+819012345678", "--password-stdin"); err != nil {
			t.Fatal(err)
		}
	}
	out, errOut, err := c.run("", "users", "list", "--limit", "2")
	if err != nil {
		t.Fatal(err)
	}
	list := lines(t, out)
	if len(list) != 2 || list[0]["username"] != "alice" || list[1]["username"] != "bob" || !strings.Contains(errOut, `--after "bob"`) {
		t.Fatalf("users list --limit 2: %v\nstderr %s", list, errOut)
	}
	if out, _, _ = c.run("", "users", "list", "--after", "bob"); len(lines(t, out)) != 1 {
		t.Errorf("users list --after bob: %s", out)
	}
	if out, _, _ = c.run("", "users", "list", "--search", "CAR"); len(lines(t, out)) != 1 || !strings.Contains(out, "carol") {
		t.Errorf("users list --search CAR: %s", out)
	}
	_, _, err = c.run("", "users", "list", "--limit", "0")
	wantUsage(t, err, "--limit")

	out, _, err = c.run("", "users", "show", "--username", "Alice")
	if err != nil {
		t.Fatal(err)
	}
	var shown struct {
		ID      string
		Phone   struct{ Number string }
		Factors struct{ Password bool }
	}
	json.Unmarshal([]byte(out), &shown)
	if shown.Phone.Number != "+819012345678" || !shown.Factors.Password || shown.ID == "" {
		t.Errorf("users show: %s", out)
	}
	if _, _, err := c.run("", "users", "show", "--username", shown.ID); err != nil {
		t.Errorf("users show by id: %v", err)
	}
	if _, _, err := c.run("", "users", "show", "--username", "nobody"); err == nil || !strings.Contains(err.Error(), `no user "nobody"`) {
		t.Errorf("users show nobody: %v", err)
	}

	out, _, err = c.run("", "users", "disable", "--username", "alice")
	if err != nil || !strings.Contains(out, `"disabled": true`) {
		t.Fatalf("users disable: %v\n%s", err, out)
	}
	out, _, err = c.run("", "users", "enable", "--username", "alice")
	if err != nil || !strings.Contains(out, `"disabled": false`) {
		t.Fatalf("users enable: %v\n%s", err, out)
	}

	_, _, err = c.run("", "users", "phone", "set", "--username", "bob")
	wantUsage(t, err, "--number")
	_, _, err = c.run("", "users", "phone", "set", "--username", "bob", "--number", "0312345678")
	wantUsage(t, err, "phone")
	out, _, err = c.run("", "users", "phone", "set", "--username", "bob", "--number", "09087654321", "--verified")
	if err != nil || !strings.Contains(out, "+819087654321") || !strings.Contains(out, `"verified": true`) {
		t.Fatalf("users phone set: %v\n%s", err, out)
	}
	out, _, err = c.run("", "users", "phone", "clear", "--username", "bob")
	if err != nil || !strings.Contains(out, "/invitation?token=") {
		t.Fatalf("users phone clear: %v\n%s", err, out)
	}
	_, _, err = c.run("", "users", "phone", "frob")
	wantUsage(t, err, "set or clear")

	_, _, err = c.run("", "users", "remove-factor", "--username", "alice", "--factor", "sms")
	wantUsage(t, err, "its own action")
	if out, _, err := c.run("", "users", "remove-factor", "--username", "alice", "--factor", "trusted_devices"); err != nil || !strings.Contains(out, `"removed": 0`) {
		t.Errorf("users remove-factor: %v\n%s", err, out)
	}
	_, _, err = c.run("", "users", "delete", "--username", "carol")
	wantUsage(t, err, "--yes")
	if _, _, err := c.run("", "users", "delete", "--username", "carol", "--yes"); err != nil {
		t.Fatal(err)
	}
	if out, _, _ = c.run("", "users", "list"); len(lines(t, out)) != 2 {
		t.Errorf("after delete: %s", out)
	}
	out, _, err = c.run("", "audit", "--event", "user.")
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range []string{"user.disabled", "user.enabled", "user.deleted"} {
		if !strings.Contains(out, ev) {
			t.Errorf("audit lacks %s:\n%s", ev, out)
		}
	}
	if out, _, _ = c.run("", "audit", "--event", "phone."); !strings.Contains(out, "phone.set") || !strings.Contains(out, "phone.cleared") {
		t.Errorf("audit lacks the phone changes:\n%s", out)
	}
}

func TestClientsAndKeysCommands(t *testing.T) {
	c := newCLI(t)
	out, _, err := c.run("", "clients", "create", "--id", "shop", "--redirect-uri", "https://shop.example.com/cb")
	if err != nil {
		t.Fatal(err)
	}
	secret := decode(t, out)["client_secret"].(string)
	if out, _, err = c.run("", "clients", "list"); err != nil || len(lines(t, out)) != 1 || strings.Contains(out, "secret\"") {
		t.Fatalf("clients list: %v\n%s", err, out)
	}
	out, _, err = c.run("", "clients", "update", "--id", "shop", "--redirect-uri", "https://shop.example.com/new", "--name", "Shop", "--scope", "openid profile")
	if err != nil || !strings.Contains(out, "https://shop.example.com/new") || strings.Contains(out, "https://shop.example.com/cb") || !strings.Contains(out, `"Shop"`) {
		t.Fatalf("clients update: %v\n%s", err, out)
	}
	out, _, err = c.run("", "clients", "update", "--id", "shop", "--grant-type", "authorization_code",
		"--grant-type", "urn:ietf:params:oauth:grant-type:token-exchange", "--token-exchange-audience", "inventory")
	if err != nil || !strings.Contains(out, "token-exchange") || !strings.Contains(out, `"inventory"`) {
		t.Fatalf("clients update for token exchange: %v\n%s", err, out)
	}
	_, _, err = c.run("", "clients", "update", "--id", "shop", "--redirect-uri", "http://shop.example.com/cb")
	wantUsage(t, err, "https")
	_, _, err = c.run("", "clients", "update", "--id", "shop", "--scope", "openid admin")
	wantUsage(t, err, "--scope")
	_, _, err = c.run("", "clients", "update", "--id", "shop")
	wantUsage(t, err, "nothing to change")
	if _, _, err := c.run("", "clients", "update", "--id", "nope", "--name", "x"); err == nil || !strings.Contains(err.Error(), `no client "nope"`) {
		t.Errorf("update of an unknown client: %v", err)
	}
	out, _, err = c.run("", "clients", "rotate-secret", "--id", "shop")
	if err != nil || decode(t, out)["client_secret"] == secret {
		t.Fatalf("rotate-secret: %v\n%s", err, out)
	}
	out, _, err = c.run("", "clients", "show", "--id", "shop")
	if err != nil || !strings.Contains(out, `"client_id": "shop"`) {
		t.Fatalf("clients show: %v\n%s", err, out)
	}
	_, _, err = c.run("", "clients", "delete", "--id", "shop")
	wantUsage(t, err, "--yes")
	if _, _, err := c.run("", "clients", "delete", "--id", "shop", "--yes"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.run("", "clients", "show", "--id", "shop"); err == nil {
		t.Error("a deleted client is still shown")
	}
	t.Setenv("IDP_SECRET", strings.Repeat("k", 40))
	if _, _, err := c.run("", "keys", "rotate"); err != nil {
		t.Fatal(err)
	}
	out, _, err = c.run("", "keys", "list")
	if err != nil || !strings.Contains(out, `"active": true`) || strings.Contains(out, "private") {
		t.Fatalf("keys list: %v\n%s", err, out)
	}
	out, _, _ = c.run("", "audit", "--event", "client.")
	for _, ev := range []string{"client.updated", "client.secret_rotated", "client.deleted"} {
		if !strings.Contains(out, ev) {
			t.Errorf("audit lacks %s", ev)
		}
	}
}
