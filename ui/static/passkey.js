// Passkeys (WebAuthn): the one part of the pages that needs a script.
// A form with data-passkey="create" (the account page) or "get" (the
// sign-in page) posts its csrf_token to data-options for the ceremony's
// options, asks the browser for a new credential or an assertion, and
// posts the answer, as JSON, in its hidden field. Binary fields travel as
// base64url both ways, as go-webauthn reads and writes them.
(function () {
  "use strict";

  function fromB64(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) {
      s += "=";
    }
    var bin = atob(s);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) {
      out[i] = bin.charCodeAt(i);
    }
    return out.buffer;
  }

  function toB64(buf) {
    var bytes = new Uint8Array(buf);
    var bin = "";
    for (var i = 0; i < bytes.length; i++) {
      bin += String.fromCharCode(bytes[i]);
    }
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function decodeList(list) {
    (list || []).forEach(function (c) {
      c.id = fromB64(c.id);
    });
  }

  function encodeCredential(cred) {
    var r = cred.response;
    var out = {
      id: cred.id,
      rawId: toB64(cred.rawId),
      type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: { clientDataJSON: toB64(r.clientDataJSON) }
    };
    if (r.attestationObject) {
      out.response.attestationObject = toB64(r.attestationObject);
      if (r.getTransports) {
        out.response.transports = r.getTransports();
      }
    } else {
      out.response.authenticatorData = toB64(r.authenticatorData);
      out.response.signature = toB64(r.signature);
      if (r.userHandle) {
        out.response.userHandle = toB64(r.userHandle);
      }
    }
    return JSON.stringify(out);
  }

  function ceremony(form) {
    var kind = form.getAttribute("data-passkey");
    var field = form.querySelector(kind === "create" ? "[name=passkey_credential]" : "[name=passkey_assertion]");
    var failed = document.getElementById("passkey-failed");
    var body = new URLSearchParams();
    body.set("csrf_token", form.querySelector("[name=csrf_token]").value);
    var username = form.querySelector("[name=username]");
    if (username) {
      body.set("username", username.value); // a reset names its account
    }
    return fetch(form.getAttribute("data-options"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: body.toString()
    }).then(function (resp) {
      if (!resp.ok) {
        throw new Error("options: " + resp.status);
      }
      return resp.json();
    }).then(function (opts) {
      var pk = opts.publicKey;
      pk.challenge = fromB64(pk.challenge);
      if (kind === "create") {
        pk.user.id = fromB64(pk.user.id);
        decodeList(pk.excludeCredentials);
        return navigator.credentials.create({ publicKey: pk });
      }
      decodeList(pk.allowCredentials);
      return navigator.credentials.get({ publicKey: pk });
    }).then(function (cred) {
      field.value = encodeCredential(cred);
      form.submit();
    }).catch(function () {
      if (failed) {
        failed.hidden = false;
      } else {
        // The account page: the server says the passkey was not added.
        form.submit();
      }
    });
  }

  var forms = document.querySelectorAll("form[data-passkey]");
  Array.prototype.forEach.call(forms, function (form) {
    Array.prototype.forEach.call(form.querySelectorAll("[data-passkey-nojs]"), function (p) {
      p.hidden = !!window.PublicKeyCredential;
    });
    form.addEventListener("submit", function (e) {
      if (!window.PublicKeyCredential) {
        return; // the server answers that a passkey needs a browser that has them
      }
      e.preventDefault();
      ceremony(form);
    });
  });
})();
