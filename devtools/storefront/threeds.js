/* 3-D Secure in the demo checkout: the browser data the service passes to NetValve, and the `next_action` a
   payment answer may carry (a hidden device-data frame, the issuer's challenge in a frame, or a full-page
   redirect and the way back), each followed by POST /threeds/finish with the same payment token. */
"use strict";

const ThreeDS = (() => {
  const TOKEN_KEY = "netvalve-demo-3ds-token:";
  // What a browser sends as Accept for a page; scripts cannot read the header itself.
  const ACCEPT_HEADER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

  function browserInfo() {
    return {
      user_agent: navigator.userAgent,
      accept_header: ACCEPT_HEADER,
      language: navigator.language || "en",
      color_depth: window.screen.colorDepth || 24,
      screen_height: window.screen.height,
      screen_width: window.screen.width,
      time_zone: new Date().getTimezoneOffset(),
      java_enabled: false,
    };
  }

  /* Full-page challenges are asked for with ?threeds=redirect; the default is the challenge in a frame. */
  function wantsRedirect() {
    return new URLSearchParams(window.location.search).get("threeds") === "redirect";
  }

  /* This page again, for the payer it pays, marked as the way back from the bank. */
  function returnUrl(payer) {
    const params = new URLSearchParams(window.location.search);
    if (payer.field === "cart_id") {
      params.set("cart_id", payer.id);
    }
    params.set("threeds_return", "1");
    return window.location.origin + window.location.pathname + "?" + params.toString();
  }

  /* Open `url` in a frame inside `slot` and resolve with NetValve's postMessage from that frame. */
  function frameMessage(url, slot) {
    return new Promise((resolve) => {
      const frame = document.createElement("iframe");
      frame.src = url;
      frame.title = "3-D Secure";
      const origin = new URL(url).origin;
      function listen(event) {
        if (event.origin !== origin || event.source !== frame.contentWindow) {
          return;
        }
        if (!event.data || !event.data.threeDsResponse) {
          return;
        }
        window.removeEventListener("message", listen);
        slot.replaceChildren();
        resolve(event.data);
      }
      window.addEventListener("message", listen);
      slot.replaceChildren(frame);
    });
  }

  async function finish(payer, token) {
    return Storefront.call("POST", "/threeds/finish", { [payer.field]: payer.id, payment_token: token });
  }

  /* Do what `action` asks, then ask the service to go on; the service's answer, or null when the page is
     leaving for a full-page challenge. */
  async function run(action, payer, token) {
    if (action.type === "threeds_device_data") {
      await frameMessage(action.url, document.getElementById("threeds-device-data"));
      return finish(payer, token);
    }
    if (action.mode === "redirect") {
      window.sessionStorage.setItem(TOKEN_KEY + payer.id, token);
      window.location.assign(action.url);
      return null;
    }
    const section = document.getElementById("threeds");
    section.hidden = false;
    await frameMessage(action.url, document.getElementById("threeds-challenge"));
    section.hidden = true;
    return finish(payer, token);
  }

  /* Back from a full-page challenge: the token kept before leaving, or null when this is no such return. */
  function returnedToken(payer) {
    const params = new URLSearchParams(window.location.search);
    const token = window.sessionStorage.getItem(TOKEN_KEY + payer.id);
    if (!params.has("threeds_return") || !token) {
      return null;
    }
    window.sessionStorage.removeItem(TOKEN_KEY + payer.id);
    params.delete("threeds_return");
    ["result", "transID", "threeDsStatus"].forEach((name) => params.delete(name));
    window.history.replaceState(null, "", window.location.pathname + "?" + params.toString());
    return token;
  }

  return { browserInfo, finish, returnUrl, returnedToken, run, wantsRedirect };
})();
