// Passkeys on Postern's pages. A form with `data-passkey="create"` (add a passkey) or
// `data-passkey="get"` (sign in with one) carries the server's WebAuthn options in
// `data-options`; submitting it asks the browser's authenticator, puts the answer (JSON, the
// encoding the server reads) into the form's `passkey_answer` field, and sends the form.
// This file is the only script Postern's pages run (the content security policy allows no
// other), and it sends nothing anywhere but in the form the user submits.
"use strict";

(function () {
  function decode(text) {
    const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const padded = base64 + "===".slice((base64.length + 3) % 4);
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0)).buffer;
  }

  function encode(buffer) {
    let text = "";
    for (const byte of new Uint8Array(buffer)) {
      text += String.fromCharCode(byte);
    }
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function withIds(list) {
    return (list || []).map((c) => Object.assign({}, c, { id: decode(c.id) }));
  }

  function creationOptions(options) {
    const key = Object.assign({}, options.publicKey);
    key.challenge = decode(key.challenge);
    key.user = Object.assign({}, key.user, { id: decode(key.user.id) });
    key.excludeCredentials = withIds(key.excludeCredentials);
    return { publicKey: key };
  }

  function requestOptions(options) {
    const key = Object.assign({}, options.publicKey);
    key.challenge = decode(key.challenge);
    key.allowCredentials = withIds(key.allowCredentials);
    return { publicKey: key };
  }

  function created(credential) {
    return {
      id: credential.id,
      rawId: encode(credential.rawId),
      type: credential.type,
      response: {
        attestationObject: encode(credential.response.attestationObject),
        clientDataJSON: encode(credential.response.clientDataJSON),
      },
      extensions: {},
    };
  }

  function asserted(credential) {
    const response = credential.response;
    return {
      id: credential.id,
      rawId: encode(credential.rawId),
      type: credential.type,
      response: {
        authenticatorData: encode(response.authenticatorData),
        clientDataJSON: encode(response.clientDataJSON),
        signature: encode(response.signature),
        userHandle: response.userHandle ? encode(response.userHandle) : null,
      },
      extensions: {},
    };
  }

  async function answer(form) {
    const options = JSON.parse(form.dataset.options);
    if (form.dataset.passkey === "create") {
      return created(await navigator.credentials.create(creationOptions(options)));
    }
    return asserted(await navigator.credentials.get(requestOptions(options)));
  }

  for (const form of document.querySelectorAll("form[data-passkey]")) {
    const status = form.querySelector(".passkey-status");
    if (!window.PublicKeyCredential) {
      form.querySelector("button").disabled = true;
      status.textContent = "This browser cannot use passkeys.";
      continue;
    }
    form.addEventListener("submit", async (event) => {
      if (form.dataset.answered) {
        return;
      }
      event.preventDefault();
      status.textContent = "Waiting for your passkey…";
      try {
        form.elements.passkey_answer.value = JSON.stringify(await answer(form));
        form.dataset.answered = "yes";
        form.submit();
      } catch (error) {
        status.textContent =
          "The passkey did not answer (" + error.name + "). Try again, or use another way.";
      }
    });
  }
})();
