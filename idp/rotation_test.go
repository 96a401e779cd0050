package idp_test

import (
	"net/url"
	"testing"

	"golang.org/x/oauth2"

	"github.com/smspin/idp/idp/idptest"
	"github.com/smspin/idp/migrations/database/dbtest"
)

// Rotating IDP_SECRET (the new one in IDP_SECRET, the old in
// IDP_SECRET_OLD) logs nobody out: sessions, refresh tokens, signing keys,
// a PIN sent and a page served before the restart all keep working.
func TestSecretRotation(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(*testing.T) *dbtest.DB) {
		oldSecret := []byte("the-old-secret-the-old-secret-0123456789")
		newSecret := []byte("the-new-secret-the-new-secret-0123456789")
		e := idptest.New(t, open(t), idptest.Options{Secret: oldSecret})
		user := e.CreateUser("alice", "correct horse battery", "+819012345678", true)
		c := e.CreateClient("shop", "shop-secret-0123456789-0123456789-0123456789", rpCallback, true)
		r := newRP(t, e, c)
		ctx := r.ctx(t.Context())
		b := e.NewBrowser()
		verifier := oauth2.GenerateVerifier()
		tok, err := r.conf.Exchange(ctx, codeFrom(t, b.Login(r.authorize("state-0123456789", "nonce-0123456789", verifier), user), "state-0123456789"),
			oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		// A second browser is half-way: its PIN sent, its page served.
		b2 := e.NewBrowser()
		p := b2.Get(r.authorize("state-0123456789", "nonce-0123456789", oauth2.GenerateVerifier()))
		p = b2.Fill(p, url.Values{"username": {"alice"}, "password": {user.Password}})
		pin := e.LastCode(user.Phone)

		e.Restart(idptest.Options{Secret: newSecret, OldSecrets: [][]byte{oldSecret}})

		renewed, err := r.conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		if err != nil {
			t.Fatalf("refresh token issued before the rotation: %v", err)
		}
		// The session still spares the password: prompt=none succeeds.
		q := b.Get(r.authorize("state-0123456789", "nonce-0123456789", oauth2.GenerateVerifier(), oauth2.SetAuthURLParam("prompt", "none")))
		codeFrom(t, q, "state-0123456789")
		// The half-way login finishes with the PIN and form of before.
		codeFrom(t, b2.Fill(p, url.Values{"code": {pin}}), "state-0123456789")
		// The signing keys were resealed under the new secret: a restart
		// with the new secret alone still loads them (Restart fails the
		// test otherwise), and ID tokens of before still verify.
		e.Restart(idptest.Options{Secret: newSecret})
		if _, err := r.verifier.Verify(ctx, tok.Extra("id_token").(string)); err != nil {
			t.Fatalf("ID token of before the rotation: %v", err)
		}
		// Tokens renewed during the rotation are under the new secret.
		if _, err := r.conf.TokenSource(ctx, &oauth2.Token{RefreshToken: renewed.RefreshToken}).Token(); err != nil {
			t.Fatalf("refresh token renewed during the rotation, after the old secret is dropped: %v", err)
		}
	})
}
