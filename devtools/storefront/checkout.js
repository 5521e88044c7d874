/* The checkout page, and the payment link page of an order's payment collection: what is owed as the service
   prices it, NetValve's card fields (or its hosted page), the payment with the token, and an answer the
   shopper understands. */
"use strict";

(() => {
  const payer = Storefront.payer();
  const FIELD_STYLES = {
    inputStyles: { "font-size": "16px", color: "#1d1f23" },
    invalidStyles: { color: "#b00020", "border-color": "#b00020" },
  };
  const SETTLED = new Set(["captured", "authorized", "error", "canceled", "refunded"]);
  // Saved cards are the signed-in customer's, for a cart (the payment link page has no customer).
  const accounts = typeof Account !== "undefined" && payer.field === "cart_id";
  // One Idempotency-Key per saved card and page: a lost answer asked again is the same payment.
  const pageNonce = Math.random().toString(36).slice(2);
  let paying = false;
  let canSaveCard = false;

  function formatAmount(amount, currency) {
    try {
      return new Intl.NumberFormat(undefined, { style: "currency", currency: currency.toUpperCase() }).format(
        amount
      );
    } catch (error) {
      return amount + " " + currency.toUpperCase();
    }
  }

  function showRetry(label) {
    const retry = document.getElementById("retry");
    retry.textContent = label || "Pay with another card";
    retry.hidden = false;
  }

  function hideForms() {
    const saved = document.getElementById("saved-cards");
    if (saved) {
      saved.hidden = true;
    }
    document.getElementById("hpf").hidden = true;
    document.getElementById("hpp").hidden = true;
    document.getElementById("retry").hidden = true;
  }

  function setPayButton(busy, label) {
    const button = document.getElementById("pay-button");
    if (button) {
      button.disabled = busy;
      if (label) {
        button.textContent = label;
      }
    }
  }

  function showFieldMessage(message) {
    const slot = document.querySelector('.field-error[data-field="' + message.fieldName + '"]');
    if (slot) {
      slot.textContent = message.success ? "" : message.message;
    }
  }

  /* Show what a payment status means; a settled outcome ends the checkout, anything else keeps polling. */
  function showStatus(status) {
    if (status === "error") {
      hideForms();
      Storefront.showResult("declined");
      showRetry();
    } else if (status === "none") {
      Storefront.showResult("error", "Your payment was not taken. Please try again.");
      showRetry("Try again");
    } else if (status === "unreachable") {
      Storefront.showResult(
        "error",
        "We cannot reach the store right now. Please do not pay again: reload this page in a minute to see " +
          "whether your payment went through."
      );
    } else {
      hideForms();
      Storefront.showResult(Storefront.OUTCOME_OF_STATUS[status] || "pending");
    }
  }

  /* The answer to /payment was lost or unclear: the service's status decides what happened. */
  async function recover(firstOutcome) {
    hideForms();
    Storefront.showResult(firstOutcome || "checking");
    const status = await Storefront.pollStatus(payer, (current, attempt) => {
      if (current === "pending" || current === "unknown") {
        Storefront.showResult("pending");
      }
      return SETTLED.has(current) || (current === "none" && attempt >= 2);
    });
    showStatus(status);
  }

  async function pay(token) {
    if (paying) {
      return;
    }
    paying = true;
    setPayButton(true, "Processing…");
    Storefront.showResult("checking", "Processing your payment…");
    const body = { [payer.field]: payer.id, payment_token: token, browser: ThreeDS.browserInfo() };
    if (ThreeDS.wantsRedirect()) {
      body.threeds_return_url = ThreeDS.returnUrl(payer);
    }
    const save = document.getElementById("save-card");
    if (canSaveCard && save && save.checked) {
      body.save_card = true;
    }
    await send(body, "pay-" + token, token);
  }

  /* The signed-in customer's saved card, picked on the page: no card fields, the service charges its token. */
  async function paySaved(cardId) {
    if (paying) {
      return;
    }
    paying = true;
    document.getElementById("pay-saved-card").disabled = true;
    Storefront.showResult("checking", "Processing your payment…");
    const body = { [payer.field]: payer.id, saved_card_id: cardId, browser: ThreeDS.browserInfo() };
    await send(body, "pay-saved-" + payer.id + "-" + cardId + "-" + pageNonce, null);
    document.getElementById("pay-saved-card").disabled = false;
  }

  async function send(body, idempotencyKey, token) {
    let answer;
    try {
      answer = await Storefront.call("POST", "/payment", body, { "Idempotency-Key": idempotencyKey });
    } catch (error) {
      paying = false;
      await recover("checking");
      return;
    }
    await settle(answer, token);
    paying = false;
  }

  /* What the service answered to /payment or /threeds/finish, shown to the shopper; a 3-D Secure step the
     browser must take first (device data, the challenge) is taken, then the service asked again. */
  async function settle(first, token) {
    let answer = first;
    while (answer && answer.status === 200 && answer.data.next_action) {
      hideForms();
      Storefront.showResult("checking", "Your bank is verifying the payment…");
      try {
        answer = await ThreeDS.run(answer.data.next_action, payer, token);
      } catch (error) {
        await recover("checking");
        return;
      }
    }
    if (answer === null) {
      return; // the page is on its way to the bank's challenge
    }
    const code = answer.data && answer.data.error ? answer.data.error.code : null;
    if (answer.status === 200 && answer.data.saved_card_id && Storefront.OUTCOME_OF_STATUS[answer.data.status] === "approved") {
      hideForms();
      Storefront.showResult("approved", "Thank you! Your payment was approved, and your card is saved for next time.");
    } else if (answer.status === 200) {
      showStatus(answer.data.status);
    } else if (answer.status === 202 || code === "operation_in_progress") {
      await recover("pending");
    } else if (code === "card_declined") {
      showStatus("error");
    } else if (code === "threeds_failed") {
      hideForms();
      Storefront.showResult("declined", "Your bank could not verify this payment. No money was taken.");
      showRetry();
    } else if (code === "saved_card_not_found" || code === "saved_card_expired") {
      Storefront.showResult("error", "This saved card can no longer be used. Please pay with another card.");
      showRetry("Pay with another card");
    } else if (code === "invalid_payment_token") {
      Storefront.showResult("error", "Your card details expired before the payment. Please enter them again.");
      showRetry("Enter card again");
    } else if (answer.status >= 500) {
      await recover("checking");
    } else {
      Storefront.showResult("error", (answer.data && answer.data.error && answer.data.error.message) || "");
      showRetry("Try again");
    }
  }

  function loadFields(hpf) {
    const slot = document.getElementById("card-form-slot");
    // A fresh form per attempt: the previous SDK's listeners stay on the form it was given.
    slot.replaceChildren(document.getElementById("card-form-template").content.cloneNode(true));
    document.querySelectorAll("script[data-netvalve-sdk]").forEach((old) => old.remove());
    document.getElementById("hpf").hidden = false;
    const saveOption = document.getElementById("save-card-option");
    if (saveOption) {
      saveOption.hidden = !canSaveCard;
    }
    setPayButton(true, "Loading card form…");
    const script = document.createElement("script");
    script.type = "text/javascript";
    script.src = hpf.script_src;
    if (hpf.integrity) {
      script.integrity = hpf.integrity;
    }
    script.crossOrigin = "anonymous";
    script.dataset.netvalveSdk = "";
    script.onload = () => {
      window.Netvalve.initTokenFields(
        Object.assign({}, FIELD_STYLES, {
          formSelector: "#payment-form",
          payButtonId: "pay-button",
          fields: {
            cardNumber: { containerSelector: "#card-number" },
            cardExpiry: { containerSelector: "#card-expiry" },
            cardCvv: { containerSelector: "#card-cvv" },
          },
          onValidate: showFieldMessage,
          onSubmitPayment: pay,
        })
      );
    };
    script.onerror = () => {
      document.getElementById("hpf").hidden = true;
      Storefront.showResult("error", "The card form could not be loaded. Please try again in a moment.");
      showRetry("Try again");
    };
    document.head.appendChild(script);
  }

  window.addEventListener("all-fields-ready", () => setPayButton(false, document.body.dataset.payLabel));
  window.addEventListener("field-tokenization", (event) => {
    if (!event.detail.success) {
      showFieldMessage(event.detail);
    }
  });

  async function startCheckout() {
    document.getElementById("result").hidden = true;
    hideForms();
    let session;
    try {
      session = await Storefront.call("POST", "/hpf/session", { [payer.field]: payer.id });
    } catch (error) {
      Storefront.showResult("error", "We cannot reach the store right now. Please try again in a moment.");
      showRetry("Try again");
      return;
    }
    if (!session.ok) {
      const code = session.data && session.data.error ? session.data.error.code : "";
      const final = {
        cart_completed: "This cart has already been checked out.",
        cart_already_paid: "This cart is already paid.",
        payment_collection_paid: "This order has nothing left to pay.",
        payment_collection_canceled: "This payment link is no longer valid: the payment was canceled.",
        payment_collection_not_found: "This payment link is not valid. Please ask the store for a new one.",
      };
      Storefront.showResult(
        "error",
        final[code] || "Card payments are not available right now. Please try again in a moment."
      );
      if (!final[code]) {
        showRetry("Try again");
      }
      return;
    }
    const total = formatAmount(session.data.amount, session.data.currency_code);
    document.querySelector("[data-total]").textContent = total;
    document.body.dataset.payLabel = "Pay " + total;
    if (session.data.flow === "hpp") {
      document.getElementById("hpp").hidden = false;
      document.getElementById("hpp-continue").onclick = () => {
        Storefront.hostedPageAbandoned(payer.id, false);
        Storefront.rememberPayer(payer);
        window.location.assign(session.data.hpp.redirect_url);
      };
    } else {
      if (accounts) {
        const account = await Account.signedIn();
        canSaveCard = account.signed_in;
        showSavedCards(account.cards.filter((card) => !card.expired), total);
      }
      loadFields(session.data.hpf);
    }
  }

  /* The signed-in customer's cards, masked, each a choice; the first is picked. */
  function showSavedCards(cards, total) {
    const section = document.getElementById("saved-cards");
    const list = document.getElementById("saved-card-list");
    list.replaceChildren();
    cards.forEach((card, index) => {
      const label = document.createElement("label");
      label.className = "saved-card";
      const input = document.createElement("input");
      input.type = "radio";
      input.name = "saved-card";
      input.value = card.id;
      input.checked = index === 0;
      const text = document.createElement("code");
      text.textContent = Account.describe(card);
      label.append(input, text);
      list.append(label);
    });
    document.getElementById("pay-saved-card").textContent = "Pay " + total + " with this card";
    section.hidden = cards.length === 0;
  }

  if (accounts) {
    document.getElementById("pay-saved-card").addEventListener("click", () => {
      const picked = document.querySelector('input[name="saved-card"]:checked');
      if (picked) {
        paySaved(picked.value);
      }
    });
  }

  async function start() {
    if (accounts) {
      Account.signedIn();
    }
    if (!payer.id) {
      Storefront.showResult("error", "There is no cart to pay for. Open this page from the link the store gave you.");
      return;
    }
    document.querySelector("[data-payer-id]").textContent = payer.id;
    const order = document.getElementById("order-id");
    if (order) {
      order.textContent = payer.orderId || "…";
    }
    const returned = ThreeDS.returnedToken(payer);
    if (returned) {
      // Back from the bank's full-page challenge: the service asks NetValve for the result.
      Storefront.showResult("checking", "Your bank is verifying the payment…");
      let answer;
      try {
        answer = await ThreeDS.finish(payer, returned);
      } catch (error) {
        await recover("checking");
        return;
      }
      await settle(answer, returned);
      return;
    }
    let status;
    try {
      status = await Storefront.paymentStatus(payer);
    } catch (error) {
      status = "unreachable";
    }
    const inFlight = (status === "pending" || status === "unknown") && !Storefront.hostedPageAbandoned(payer.id);
    if (status === "captured" || status === "authorized" || inFlight) {
      // Paid, or being paid: never offer a second payment for the same cart (or collection).
      if (status === "pending" || status === "unknown") {
        await recover("pending");
      } else {
        showStatus(status);
      }
      return;
    }
    await startCheckout();
  }

  document.getElementById("retry").addEventListener("click", startCheckout);
  start();
})();
