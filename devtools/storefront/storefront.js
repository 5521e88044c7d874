/* What every page of the demo storefront shares: its configuration, calls to the payment service with the
   publishable key (never the service key), what the page pays (a cart, or an order's payment collection from
   Medusa's payment link), the payment status, and the words a shopper reads. */
"use strict";

const Storefront = (() => {
  const CART_KEY = "netvalve-demo-cart";
  const PAYER_KEY = "netvalve-demo-payer";
  // Medusa's admin copies this link for an order's payment collection: <storefront>/payment-collection/<id>.
  const PAYMENT_LINK_PATH = /^\/payment-collection\/([A-Za-z0-9_]+)$/;
  const POLL_INTERVAL_MS = 1000;
  const POLL_ATTEMPTS = 90;
  let configPromise = null;

  const MESSAGES = {
    approved: ["Payment approved", "Thank you! Your payment was approved and your order is on its way."],
    declined: ["Payment declined", "Your card was declined. No money was taken. Please try another card."],
    pending: ["Payment pending", "Your bank is still confirming the payment. This page updates by itself."],
    checking: ["Checking your payment…", "One moment while we confirm your payment with the store."],
    cancelled: ["Payment cancelled", "You cancelled the payment. Nothing was charged; your cart is still here."],
    refunded: ["Payment refunded", "This payment was refunded to your card."],
    error: ["Something went wrong", "We could not complete the payment. Nothing was charged. Please try again."],
  };

  /* Medusa's payment status, as the storefront words it. */
  const OUTCOME_OF_STATUS = {
    captured: "approved",
    authorized: "approved",
    pending: "pending",
    unknown: "pending",
    requires_more: "pending",
    error: "declined",
    canceled: "cancelled",
    refunded: "refunded",
  };

  function config() {
    if (!configPromise) {
      configPromise = fetch("/config.json").then((response) => {
        if (!response.ok) {
          throw new Error("storefront configuration unavailable");
        }
        return response.json();
      });
    }
    return configPromise;
  }

  /* One call to the payment service; rejects only when the service could not be reached. */
  async function call(method, path, body, headers) {
    const settings = await config();
    const request = {
      method,
      headers: Object.assign({ "x-publishable-api-key": settings.publishableKey }, headers || {}),
    };
    if (body !== undefined) {
      request.headers["content-type"] = "application/json";
      request.body = JSON.stringify(body);
    }
    const response = await fetch(settings.serviceUrl + "/api/v1/netvalve" + path, request);
    let data = null;
    try {
      data = await response.json();
    } catch (error) {
      data = null;
    }
    return { status: response.status, ok: response.ok, data };
  }

  /* The payment status of a payer: a Medusa status, "none" when no payment exists; rejects when unreachable. */
  async function paymentStatus(payer) {
    const answer = await call("GET", "/status?" + payer.field + "=" + encodeURIComponent(payer.id));
    if (answer.ok && answer.data && answer.data.status) {
      return answer.data.status;
    }
    if (answer.status === 404) {
      return "none";
    }
    throw new Error("status unavailable (" + answer.status + ")");
  }

  function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  /* Ask for the status until `settled(status)` says so; unreachable answers count as "unreachable". */
  async function pollStatus(payer, settled) {
    let last = "unreachable";
    for (let attempt = 0; attempt < POLL_ATTEMPTS; attempt += 1) {
      try {
        last = await paymentStatus(payer);
      } catch (error) {
        last = "unreachable";
      }
      if (settled(last, attempt)) {
        return last;
      }
      await sleep(POLL_INTERVAL_MS);
    }
    return last;
  }

  function showResult(outcome, text) {
    const section = document.getElementById("result");
    const [title, standard] = MESSAGES[outcome];
    section.hidden = false;
    section.dataset.outcome = outcome;
    document.getElementById("result-title").textContent = title;
    document.getElementById("result-text").textContent = text || standard;
  }

  function cartId() {
    const fromUrl = new URLSearchParams(window.location.search).get("cart_id");
    if (fromUrl) {
      window.localStorage.setItem(CART_KEY, fromUrl);
      return fromUrl;
    }
    return window.localStorage.getItem(CART_KEY);
  }

  /* What this page pays, as the service's routes name it: the payment link's collection (with the order it
     belongs to, as the link says), else the cart. */
  function payer() {
    const link = PAYMENT_LINK_PATH.exec(window.location.pathname);
    if (link) {
      const orderId = new URLSearchParams(window.location.search).get("order_id");
      return { field: "payment_collection_id", id: link[1], orderId };
    }
    return { field: "cart_id", id: cartId(), orderId: null };
  }

  /* The hosted page sends the shopper back to one page for every payer: it says whom it paid for. */
  function rememberPayer(payer) {
    window.localStorage.setItem(PAYER_KEY, JSON.stringify(payer));
  }

  function rememberedPayer() {
    try {
      const payer = JSON.parse(window.localStorage.getItem(PAYER_KEY) || "null");
      return payer && payer.field && payer.id ? payer : null;
    } catch (error) {
      return null;
    }
  }

  /* Where the shopper pays again for this payer. */
  function payAgainUrl(payer) {
    if (payer.field === "payment_collection_id") {
      const order = payer.orderId ? "?order_id=" + encodeURIComponent(payer.orderId) : "";
      return "/payment-collection/" + encodeURIComponent(payer.id) + order;
    }
    return "/?cart_id=" + encodeURIComponent(payer.id);
  }

  /* The shopper came back from the hosted page without paying: the order NetValve still holds open for the
     cart is no payment in flight, so the checkout may offer the card form again. */
  function hostedPageAbandoned(cart, abandoned) {
    const key = "netvalve-demo-hpp-abandoned:" + cart;
    if (abandoned === undefined) {
      return window.localStorage.getItem(key) === "1";
    }
    if (abandoned) {
      window.localStorage.setItem(key, "1");
    } else {
      window.localStorage.removeItem(key);
    }
    return abandoned;
  }

  return {
    call,
    cartId,
    hostedPageAbandoned,
    payAgainUrl,
    payer,
    paymentStatus,
    pollStatus,
    rememberPayer,
    rememberedPayer,
    showResult,
    OUTCOME_OF_STATUS,
  };
})();
