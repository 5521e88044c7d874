/* The demo store's signed-in customer: the storefront server stands in for Medusa's customer sign-in and for
   its saved payment methods (`/account.json`: who is signed in, and their cards as the service masks them).
   The page never holds a card number, a gateway token or the service key. */
"use strict";

const Account = (() => {
  const GUEST = { signed_in: false, cards: [] };
  let current = null;

  async function post(path, body) {
    const response = await fetch(path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body || {}),
    });
    return response.ok;
  }

  async function load() {
    try {
      const response = await fetch("/account.json", { cache: "no-store" });
      return response.ok ? await response.json() : GUEST;
    } catch (error) {
      return GUEST;
    }
  }

  function render(account) {
    const box = document.getElementById("account");
    box.dataset.signedIn = String(account.signed_in);
    document.getElementById("account-name").textContent = account.signed_in
      ? "Signed in as " + (account.email || account.customer_id)
      : "Guest";
    document.getElementById("sign-in-form").hidden = account.signed_in;
    document.getElementById("sign-out").hidden = !account.signed_in;
  }

  /* Who is signed in, and their saved cards (asked once per page). */
  function signedIn() {
    if (!current) {
      current = load().then((account) => {
        render(account);
        return account;
      });
    }
    return current;
  }

  document.getElementById("sign-in-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const customerId = document.getElementById("sign-in-customer").value.trim();
    if (await post("/account/sign-in", { customer_id: customerId })) {
      window.location.reload();
    }
  });
  document.getElementById("sign-out").addEventListener("click", async () => {
    await post("/account/sign-out");
    window.location.reload();
  });

  /* "VISA 411111******1111 · expires 12/2030", as a shopper recognizes the card. */
  function describe(card) {
    const month = String(card.expiry_month).padStart(2, "0");
    return (card.brand || "Card") + " " + card.masked + " · expires " + month + "/" + card.expiry_year;
  }

  return { describe, signedIn };
})();
