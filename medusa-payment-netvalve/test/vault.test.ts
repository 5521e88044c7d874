import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { MedusaError } from "@medusajs/framework/utils";

import { type Recorded, type Reply, SERVICE_KEY, StubService, provider, serviceError } from "./support";

let stub: StubService;
before(async () => {
  stub = await StubService.start();
});
after(async () => {
  await stub.stop();
});

/** What a vault must never hand Medusa, planted in every stub answer below. */
const TOKEN = "gw-token-SECRET-4111";
const CUSTOMER = { id: "cus_1", email: "ada@example.com" };
const HOLDER = {
  id: "nvah_1",
  customer_id: "cus_1",
  email: "ada@example.com",
  created_at: "2026-12-08T00:00:00Z",
};
const CARD = {
  id: "nvcard_1",
  brand: "VISA",
  last4: "1111",
  masked: "411111******1111",
  expiry_month: 12,
  expiry_year: 2030,
  expired: false,
  created_at: "2026-12-08T00:00:01Z",
};
const MEDUSA_HOLDER = { data: { ...HOLDER } };

function ok(body: Record<string, unknown>): Reply {
  return { status: 200, body: { ...body, gateway_token: TOKEN, payment_token: TOKEN } };
}

const cardsAnswer: Reply = {
  status: 200,
  body: { cards: [{ ...CARD, gateway_token: TOKEN, token: TOKEN }, { ...CARD, id: "nvcard_2", last4: "5439" }] },
};

function only(): Recorded {
  assert.equal(stub.requests.length, 1, "exactly one request to the service");
  const request = stub.requests[0] as Recorded;
  assert.equal(request.headers.authorization, `Bearer ${SERVICE_KEY}`);
  return request;
}

function assertNoToken(out: unknown): void {
  assert.ok(!JSON.stringify(out).includes(TOKEN), "a gateway token reached Medusa");
  assert.ok(!JSON.stringify(out).includes(SERVICE_KEY), "the service key reached Medusa");
}

async function rejection(promise: Promise<unknown>): Promise<MedusaError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(MedusaError.isMedusaError(error), `not a MedusaError: ${String(error)}`);
    return error as MedusaError;
  }
  assert.fail("the call succeeded");
}

describe("createAccountHolder", () => {
  it("creates the customer's holder at the service and returns its id and fields", async () => {
    stub.answer(ok(HOLDER));
    const { service } = provider(stub.url);
    const out = await service.createAccountHolder({ context: { customer: CUSTOMER, idempotency_key: "cus_1" } });
    const request = only();
    assert.equal(request.method, "POST");
    assert.equal(request.path, "/api/v1/netvalve/account-holders");
    assert.deepEqual(JSON.parse(request.body), { customer_id: "cus_1", email: "ada@example.com" });
    assert.deepEqual(out, { id: "nvah_1", data: HOLDER });
    assertNoToken(out);
  });

  it("returns the existing holder from the context without asking the service (Medusa issue #15593)", async () => {
    stub.answer({ status: 500 });
    const { service } = provider(stub.url);
    const out = await service.createAccountHolder({
      context: { customer: CUSTOMER, account_holder: MEDUSA_HOLDER },
    });
    assert.equal(stub.requests.length, 0);
    assert.deepEqual(out, { id: "nvah_1", data: HOLDER });
  });

  it("gives no holder to a customer the service keeps none for, so the checkout goes on", async () => {
    stub.answer(serviceError(422, "customer_not_registered", "The customer has no account."));
    const { service, logger } = provider(stub.url);
    const out = await service.createAccountHolder({ context: { customer: CUSTOMER } });
    only();
    assert.deepEqual(out, {});
    assert.match(logger.lines.join("\n"), /customer_not_registered/);
  });

  for (const status of [401, 500]) {
    it(`throws when the service answers ${status} (a wrong key or a failing service is not "no holder")`, async () => {
      stub.answer(serviceError(status, status === 401 ? "unauthorized" : "internal_error", "No."));
      const { service } = provider(stub.url);
      const error = await rejection(service.createAccountHolder({ context: { customer: CUSTOMER } }));
      assert.match(error.message, /account holder creation/);
    });
  }

  it("refuses a context without a customer before calling the service", async () => {
    const { service } = provider(stub.url);
    stub.answer(ok(HOLDER));
    const error = await rejection(
      service.createAccountHolder({ context: {} } as unknown as Parameters<typeof service.createAccountHolder>[0]),
    );
    assert.equal(error.type, MedusaError.Types.INVALID_DATA);
    assert.equal(stub.requests.length, 0);
  });
});

describe("retrieveAccountHolder, updateAccountHolder", () => {
  it("reads the holder by its id", async () => {
    stub.answer(ok(HOLDER));
    const { service } = provider(stub.url);
    const out = await service.retrieveAccountHolder({ id: "nvah_1" });
    const request = only();
    assert.equal(request.method, "GET");
    assert.equal(request.path, "/api/v1/netvalve/account-holders/nvah_1");
    assert.deepEqual(out, { id: "nvah_1", data: HOLDER });
    assertNoToken(out);
  });

  it("sends the customer's new email for the holder in the context", async () => {
    stub.answer(ok({ ...HOLDER, email: "new@example.com" }));
    const { service } = provider(stub.url);
    const out = await service.updateAccountHolder({
      context: { account_holder: MEDUSA_HOLDER, customer: { id: "cus_1", email: "new@example.com" } },
    });
    const request = only();
    assert.equal(request.method, "PATCH");
    assert.equal(request.path, "/api/v1/netvalve/account-holders/nvah_1");
    assert.deepEqual(JSON.parse(request.body), { email: "new@example.com" });
    assert.deepEqual(out, { data: { ...HOLDER, email: "new@example.com" } });
    assertNoToken(out);
  });

  it("carries the service's code when the holder is unknown", async () => {
    stub.answer(serviceError(404, "account_holder_not_found", "No such holder."));
    const { service } = provider(stub.url);
    const error = await rejection(service.retrieveAccountHolder({ id: "nvah_x" }));
    assert.equal(error.code, "account_holder_not_found");
  });
});

describe("deleteAccountHolder", () => {
  it("deletes the holder named by Medusa's record (external_id) and reports the cards deleted", async () => {
    stub.answer(ok({ id: "nvah_1", deleted: true, cards_deleted: 2 }));
    const { service } = provider(stub.url);
    const out = await service.deleteAccountHolder({
      context: { account_holder: { id: "acchld_1", provider_id: "pp_netvalve_netvalve", external_id: "nvah_1" } },
    });
    const request = only();
    assert.equal(request.method, "DELETE");
    assert.equal(request.path, "/api/v1/netvalve/account-holders/nvah_1");
    assert.deepEqual(out, { data: { id: "nvah_1", deleted: true, cards_deleted: 2 } });
    assertNoToken(out);
  });

  it("treats a holder the service no longer has as deleted", async () => {
    stub.answer(serviceError(404, "account_holder_not_found", "No such holder."));
    const { service } = provider(stub.url);
    const out = await service.deleteAccountHolder({ context: { account_holder: { external_id: "nvah_1" } } });
    assert.deepEqual(out, { data: { id: "nvah_1", deleted: true, cards_deleted: 0 } });
  });

  it("does not read a 404 from a wrong URL as deleted", async () => {
    stub.answer({ status: 404 });
    const { service } = provider(stub.url);
    await rejection(service.deleteAccountHolder({ context: { account_holder: { external_id: "nvah_1" } } }));
  });
});

describe("listPaymentMethods", () => {
  it("lists the holder's saved cards, masked, with no token in any returned data", async () => {
    stub.answer(cardsAnswer);
    const { service } = provider(stub.url);
    const out = await service.listPaymentMethods({ context: { account_holder: MEDUSA_HOLDER } });
    const request = only();
    assert.equal(request.method, "GET");
    assert.equal(request.path, "/api/v1/netvalve/account-holders/nvah_1/cards");
    assert.deepEqual(out, [
      { id: "nvcard_1", data: CARD },
      { id: "nvcard_2", data: { ...CARD, id: "nvcard_2", last4: "5439" } },
    ]);
    assertNoToken(out);
  });

  it("refuses a context without an account holder before calling the service", async () => {
    const { service } = provider(stub.url);
    stub.answer(cardsAnswer);
    const error = await rejection(service.listPaymentMethods({ context: {} }));
    assert.equal(error.type, MedusaError.Types.INVALID_DATA);
    assert.equal(stub.requests.length, 0);
  });
});

describe("savePaymentMethod", () => {
  it("returns the holder's card saved at checkout, never its token", async () => {
    stub.answer(cardsAnswer);
    const { service } = provider(stub.url);
    const out = await service.savePaymentMethod({
      data: { saved_card_id: "nvcard_1" },
      context: { account_holder: MEDUSA_HOLDER },
    });
    assert.equal(only().path, "/api/v1/netvalve/account-holders/nvah_1/cards");
    assert.deepEqual(out, { id: "nvcard_1", data: CARD });
    assertNoToken(out);
  });

  it("refuses a card that is not the holder's: cards are saved only by the customer's payment", async () => {
    stub.answer(cardsAnswer);
    const { service } = provider(stub.url);
    const error = await rejection(
      service.savePaymentMethod({ data: { id: "nvcard_other" }, context: { account_holder: MEDUSA_HOLDER } }),
    );
    assert.equal(error.type, MedusaError.Types.NOT_ALLOWED);
    assert.equal(error.code, "saved_card_not_found");
  });
});

describe("deletePaymentMethod", () => {
  it("deletes the saved card at the service", async () => {
    stub.answer(ok({ id: "nvcard_1", deleted: true }));
    const { service } = provider(stub.url);
    const out = await service.deletePaymentMethod({ data: { id: "nvcard_1" } });
    const request = only();
    assert.equal(request.method, "DELETE");
    assert.equal(request.path, "/api/v1/netvalve/saved-cards/nvcard_1");
    assert.deepEqual(out, { data: { id: "nvcard_1", deleted: true } });
    assertNoToken(out);
  });

  it("treats a card the service no longer has as deleted", async () => {
    stub.answer(serviceError(404, "saved_card_not_found", "No such card."));
    const { service } = provider(stub.url);
    const out = await service.deletePaymentMethod({ data: { id: "nvcard_1" } });
    assert.deepEqual(out, { data: { id: "nvcard_1", deleted: true } });
  });

  it("reports an unreachable service as changing nothing", async () => {
    stub.answer("hang");
    const { service } = provider(stub.url, { timeoutMs: 100 });
    const error = await rejection(service.deletePaymentMethod({ data: { id: "nvcard_1" } }));
    assert.equal(error.code, "service_unavailable");
    assert.match(error.message, /saved card deletion; nothing was changed/);
  });
});
