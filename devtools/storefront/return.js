/* The way back from NetValve's hosted page: /checkout/netvalve/{success,cancel,failed,pending}. The path only
   says where NetValve sent the shopper; what the page shows comes from the service's status. */
"use strict";

(async () => {
  const way = window.location.pathname.split("/").filter(Boolean).pop();
  const payer = Storefront.rememberedPayer() || { field: "cart_id", id: Storefront.cartId(), orderId: null };
  const back = document.getElementById("back-to-checkout");
  const APPROVED = new Set(["captured", "authorized"]);

  function offerCheckout(label) {
    back.href = Storefront.payAgainUrl(payer);
    back.textContent = label;
    back.hidden = false;
  }

  if (!payer.id) {
    Storefront.showResult("error", "We do not know which cart this payment was for. Please contact the store.");
    return;
  }
  if (payer.field === "payment_collection_id") {
    document.getElementById("payer-label").textContent = "Payment";
  }
  document.getElementById("cart-id").textContent = payer.id;
  if (way === "pending") {
    Storefront.showResult("pending");
  }
  // Success and pending wait for a settled status; a failed or cancelled way back only needs to learn that
  // nothing was approved after all (the status never says less than the truth).
  const status = await Storefront.pollStatus(payer, (current, attempt) => {
    if (APPROVED.has(current) || current === "error" || current === "canceled" || current === "refunded") {
      return true;
    }
    if (way === "cancel" || way === "failed") {
      return current !== "unreachable" || attempt >= 5;
    }
    if (current === "pending" || current === "unknown") {
      Storefront.showResult("pending");
    }
    return false;
  });

  if (APPROVED.has(status)) {
    Storefront.showResult("approved");
  } else if (status === "refunded") {
    Storefront.showResult("refunded");
  } else if (status === "unreachable") {
    Storefront.showResult(
      "error",
      "We cannot reach the store right now. Please do not pay again: reload this page in a minute."
    );
  } else if (way === "cancel") {
    Storefront.hostedPageAbandoned(payer.id, true);
    Storefront.showResult("cancelled");
    offerCheckout("Back to checkout");
  } else if (way === "failed" || status === "error" || status === "canceled") {
    Storefront.hostedPageAbandoned(payer.id, true);
    Storefront.showResult("declined", "Your payment did not go through. No money was taken. Please try again.");
    offerCheckout("Try again");
  } else {
    Storefront.showResult(
      "pending",
      "We have not received the final answer from your bank yet. We will email you once it arrives."
    );
  }
})();
