import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";

import { BigNumber, MedusaError, PaymentSessionStatus } from "@medusajs/framework/utils";

import { SESSION_STATUS } from "../src/status";
import {
  type Recorded,
  SERVICE_KEY,
  StubService,
  moneyAnswer,
  notFound,
  provider,
  replyLabel,
  serviceError,
  statusAnswer,
} from "./support";

let stub: StubService;
before(async () => {
  stub = await StubService.start();
});
after(async () => {
  await stub.stop();
});

const SESSION = { session_id: "payses_1", amount: "12.3", currency_code: "eur" };

function only(): Recorded {
  assert.equal(stub.requests.length, 1, "exactly one request to the service");
  return stub.requests[0] as Recorded;
}

function assertStatusLookup(request: Recorded): void {
  assert.equal(request.method, "GET");
  assert.equal(request.path, "/api/v1/netvalve/status");
  assert.equal(request.query.get("payment_session_id"), "payses_1");
  assert.equal(request.query.get("refresh"), "true");
  assert.equal(request.headers.authorization, `Bearer ${SERVICE_KEY}`);
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

describe("initiatePayment", () => {
  it("asks the service nothing and returns the session, exact amount and service URL, never the key", async () => {
    stub.answer({ status: 500 });
    const { service } = provider(stub.url + "/");
    const out = await service.initiatePayment({
      amount: new BigNumber({ value: "12.3000000000000000000", precision: 20 }),
      currency_code: "eur",
      data: { session_id: "payses_1" },
      context: { idempotency_key: "payses_1" },
    });
    assert.equal(stub.requests.length, 0);
    assert.equal(out.id, "payses_1");
    assert.deepEqual(out.data, {
      session_id: "payses_1",
      amount: "12.3",
      currency_code: "eur",
      service_url: stub.url,
    });
    assert.ok(!JSON.stringify(out).includes(SERVICE_KEY));
  });

  it("takes the session id from the idempotency key when the data has none", async () => {
    const { service } = provider(stub.url);
    const out = await service.initiatePayment({
      amount: 5,
      currency_code: "usd",
      context: { idempotency_key: "payses_9" },
    });
    assert.equal(out.id, "payses_9");
    assert.equal(out.data?.["session_id"], "payses_9");
    assert.equal(out.data?.["amount"], "5");
  });

  it("refuses a session without any id", async () => {
    const { service } = provider(stub.url);
    const error = await rejection(service.initiatePayment({ amount: 5, currency_code: "usd" }));
    assert.equal(error.type, MedusaError.Types.INVALID_DATA);
  });
});

describe("authorizePayment, getPaymentStatus, retrievePayment", () => {
  for (const [serviceStatus, medusaStatus] of Object.entries(SESSION_STATUS)) {
    it(`maps the service's "${serviceStatus}" to "${medusaStatus}"`, async () => {
      stub.answer(statusAnswer(serviceStatus));
      const { service } = provider(stub.url);
      const authorized = await service.authorizePayment({
        data: SESSION,
        context: { idempotency_key: "payses_1" },
      });
      assertStatusLookup(only());
      assert.equal(authorized.status, medusaStatus);
      assert.deepEqual(authorized.data, { ...SESSION, status: serviceStatus, netvalve_transaction_id: 9001 });
      const status = await service.getPaymentStatus({ data: SESSION });
      assert.equal(status.status, medusaStatus);
    });
  }

  it("passes on requires_more while a 3-D Secure challenge is open, with no transaction yet", async () => {
    // The service's answer for a payment whose shopper is answering the bank's challenge (no sale sent).
    stub.answer(statusAnswer("requires_more", { netvalve_transaction_id: null, response_code: null }));
    const { service } = provider(stub.url);
    const authorized = await service.authorizePayment({ data: SESSION });
    assertStatusLookup(only());
    assert.equal(authorized.status, PaymentSessionStatus.REQUIRES_MORE);
    assert.deepEqual(authorized.data, { ...SESSION, status: "requires_more" });
  });

  it("pins the mapping table", () => {
    assert.deepEqual(SESSION_STATUS, {
      authorized: "authorized",
      captured: "captured",
      refunded: "captured",
      disputed: "captured",
      requires_more: "requires_more",
      pending: "pending",
      unknown: "pending",
      error: "error",
      canceled: "canceled",
    });
  });

  it("maps a status the service never documented to error, not to a paid state", async () => {
    stub.answer(statusAnswer("chargeback"));
    const { service } = provider(stub.url);
    assert.equal((await service.authorizePayment({ data: SESSION })).status, PaymentSessionStatus.ERROR);
  });

  it("reads nothing paid yet (404 payment_not_found) as requires_more to authorize and pending for status", async () => {
    stub.answer(notFound);
    const { service } = provider(stub.url);
    const authorized = await service.authorizePayment({ data: SESSION });
    assert.equal(authorized.status, PaymentSessionStatus.REQUIRES_MORE);
    assert.deepEqual(authorized.data, SESSION);
    assert.equal((await service.getPaymentStatus({ data: SESSION })).status, PaymentSessionStatus.PENDING);
    assert.deepEqual((await service.retrievePayment({ data: SESSION })).data, SESSION);
  });

  it("does not read a 404 from a wrong URL as nothing paid", async () => {
    stub.answer(serviceError(404, "not_found", "Not Found"));
    const { service } = provider(stub.url);
    const error = await rejection(service.authorizePayment({ data: SESSION }));
    assert.match(error.message, /\[not_found\]/);
  });

  it("returns the service's ids over the data Medusa holds", async () => {
    stub.answer(statusAnswer("captured", { netvalve_transaction_id: 4242 }));
    const { service } = provider(stub.url);
    const out = await service.retrievePayment({
      data: { ...SESSION, netvalve_transaction_id: 1, extra: "kept" },
    });
    assertStatusLookup(only());
    assert.deepEqual(out.data, {
      ...SESSION,
      extra: "kept",
      status: "captured",
      netvalve_transaction_id: 4242,
    });
  });

  it("carries the service's error code when it refuses the look-up", async () => {
    stub.answer(serviceError(401, "unauthenticated", "Credentials are missing."));
    const { service } = provider(stub.url);
    const error = await rejection(service.getPaymentStatus({ data: SESSION }));
    assert.equal(error.type, MedusaError.Types.NOT_ALLOWED);
    assert.match(error.message, /\[unauthenticated\]: Credentials are missing\. \(HTTP 401, request req-1\)/);
  });
});

describe("capturePayment", () => {
  it("posts the session to /capture with Medusa's idempotency key", async () => {
    stub.answer(moneyAnswer(200, "captured", { captured_amount: "12.30" }));
    const { service } = provider(stub.url);
    const out = await service.capturePayment({
      data: { ...SESSION, status: "authorized" },
      context: { idempotency_key: "capt_01" },
    });
    const request = only();
    assert.equal(request.method, "POST");
    assert.equal(request.path, "/api/v1/netvalve/capture");
    assert.equal(request.headers.authorization, `Bearer ${SERVICE_KEY}`);
    assert.equal(request.headers["idempotency-key"], "capt_01");
    assert.equal(request.headers["content-type"], "application/json");
    assert.deepEqual(JSON.parse(request.body), { payment_session_id: "payses_1" });
    assert.deepEqual(out.data, {
      ...SESSION,
      status: "captured",
      netvalve_transaction_id: 9001,
      capture_transaction_id: 9002,
      capture_outcome: "approved",
    });
  });

  it("sends no Idempotency-Key header when Medusa gives none", async () => {
    stub.answer(moneyAnswer(200, "captured"));
    const { service } = provider(stub.url);
    await service.capturePayment({ data: SESSION });
    assert.equal(only().headers["idempotency-key"], undefined);
  });

  it("throws on an open outcome (202), so Medusa records no capture NetValve has not confirmed", async () => {
    stub.answer(moneyAnswer(202, "unknown"));
    const { service, logger } = provider(stub.url);
    const error = await rejection(
      service.capturePayment({ data: SESSION, context: { idempotency_key: "capt_02" } }),
    );
    assert.equal(error.code, "capture_pending");
    assert.match(error.message, /not confirmed the capture/);
    assert.deepEqual(logger.lines, []);
  });

  it("turns the service's refusal into a MedusaError with its code", async () => {
    stub.answer(
      serviceError(409, "invalid_transition", "A payment in status 'canceled' cannot be captured.", {
        status: "canceled",
        operation: "capture",
      }),
    );
    const { service } = provider(stub.url);
    const error = await rejection(
      service.capturePayment({ data: SESSION, context: { idempotency_key: "capt_03" } }),
    );
    assert.equal(error.type, MedusaError.Types.NOT_ALLOWED);
    assert.equal(error.code, "invalid_transition");
    assert.match(error.message, /refused the capture \[invalid_transition\]: A payment in status 'canceled'/);
  });

  it("names NetValve's response code of a gateway failure", async () => {
    stub.answer(
      serviceError(502, "gateway_rejected", "NetValve rejected the request.", { response_code: "GTW_9999" }),
    );
    const { service } = provider(stub.url);
    const error = await rejection(service.capturePayment({ data: SESSION }));
    assert.equal(error.type, MedusaError.Types.UNEXPECTED_STATE);
    assert.match(error.message, /\[gateway_rejected\].*HTTP 502, NetValve GTW_9999, request req-1/);
  });

  it("refuses payment data without a session id before calling the service", async () => {
    stub.answer(moneyAnswer(200, "captured"));
    const { service } = provider(stub.url);
    const error = await rejection(
      service.capturePayment({ data: {}, context: { idempotency_key: "capt_04" } }),
    );
    assert.equal(error.type, MedusaError.Types.INVALID_DATA);
    assert.equal(stub.requests.length, 0);
  });
});

describe("refundPayment", () => {
  const amounts: Array<[string, unknown, string]> = [
    ["a BigNumber of 1.23", new BigNumber(1.23), "1.23"],
    ["a raw value", { value: "1.2300000000000000000", precision: 20 }, "1.23"],
    ["a string", "10.50", "10.5"],
    ["a number", 7, "7"],
  ];
  for (const [label, amount, sent] of amounts) {
    it(`sends ${label} as the exact decimal string ${sent}`, async () => {
      stub.answer(moneyAnswer(200, "refunded", { refunded_amount: sent }));
      const { service } = provider(stub.url);
      const out = await service.refundPayment({
        amount: amount as never,
        data: SESSION,
        context: { idempotency_key: "ref_01" },
      });
      const request = only();
      assert.equal(request.path, "/api/v1/netvalve/refund");
      assert.equal(request.headers["idempotency-key"], "ref_01");
      assert.equal(request.body, `{"payment_session_id":"payses_1","amount":"${sent}"}`);
      assert.equal(out.data?.["refund_outcome"], "approved");
      assert.equal(out.data?.["refund_transaction_id"], 9002);
    });
  }

  it("records an open outcome (202) as pending instead of inviting a second refund", async () => {
    stub.answer(moneyAnswer(202, "unknown"));
    const { service, logger } = provider(stub.url);
    const out = await service.refundPayment({
      amount: "5",
      data: SESSION,
      context: { idempotency_key: "ref_02" },
    });
    assert.equal(out.data?.["refund_outcome"], "pending");
    assert.equal(out.data?.["status"], "unknown");
    assert.deepEqual(logger.lines, ["NetValve refund outcome is open for session payses_1"]);
  });

  it("carries the service's code when the refund exceeds what was captured", async () => {
    stub.answer(
      serviceError(422, "refund_exceeds_captured", "The refund amount is more than the captured amount."),
    );
    const { service } = provider(stub.url);
    const error = await rejection(service.refundPayment({ amount: "99", data: SESSION }));
    assert.equal(error.code, "refund_exceeds_captured");
    assert.match(error.message, /refused the refund \[refund_exceeds_captured\]/);
  });

  it("refuses a zero or negative amount without calling the service", async () => {
    stub.answer(moneyAnswer(200, "refunded"));
    const { service } = provider(stub.url);
    for (const amount of [0, "-1", new BigNumber(0)]) {
      const error = await rejection(service.refundPayment({ amount, data: SESSION }));
      assert.equal(error.type, MedusaError.Types.INVALID_DATA);
    }
    assert.equal(stub.requests.length, 0);
  });
});

describe("cancelPayment", () => {
  it("posts the session to /cancel with Medusa's idempotency key", async () => {
    stub.answer(moneyAnswer(200, "canceled"));
    const { service } = provider(stub.url);
    const out = await service.cancelPayment({ data: SESSION, context: { idempotency_key: "pay_01" } });
    const request = only();
    assert.equal(request.path, "/api/v1/netvalve/cancel");
    assert.equal(request.headers["idempotency-key"], "pay_01");
    assert.deepEqual(JSON.parse(request.body), { payment_session_id: "payses_1" });
    assert.equal(out.data?.["status"], "canceled");
    assert.equal(out.data?.["cancel_outcome"], "approved");
  });

  it("treats nothing at the service as nothing to void", async () => {
    stub.answer(notFound);
    const { service } = provider(stub.url);
    assert.deepEqual((await service.cancelPayment({ data: SESSION })).data, SESSION);
  });

  it("records an open void (202) as pending", async () => {
    stub.answer(moneyAnswer(202, "unknown"));
    const { service } = provider(stub.url);
    assert.equal((await service.cancelPayment({ data: SESSION })).data?.["cancel_outcome"], "pending");
  });

  it("refuses to void a captured payment with the service's code", async () => {
    stub.answer(
      serviceError(409, "payment_captured_use_refund", "The payment is captured and cannot be cancelled."),
    );
    const { service } = provider(stub.url);
    const error = await rejection(service.cancelPayment({ data: SESSION }));
    assert.match(error.message, /\[payment_captured_use_refund\]/);
  });
});

describe("deletePayment", () => {
  it("voids the session's authorization when the service holds one", async () => {
    stub.answer((request) =>
      request.path.endsWith("/status") ? statusAnswer("authorized") : moneyAnswer(200, "canceled"),
    );
    const { service } = provider(stub.url);
    const out = await service.deletePayment({ data: SESSION });
    assert.equal(stub.requests.length, 2);
    assertStatusLookup(stub.requests[0] as Recorded);
    assert.equal(stub.requests[1]?.path, "/api/v1/netvalve/cancel");
    assert.deepEqual(JSON.parse(stub.requests[1]?.body ?? ""), { payment_session_id: "payses_1" });
    assert.equal(out.data?.["status"], "canceled");
  });

  for (const reply of [
    notFound,
    statusAnswer("requires_more"),
    statusAnswer("captured"),
    statusAnswer("canceled"),
  ]) {
    const label = replyLabel(reply);
    it(`only looks when the service holds no authorization (${label})`, async () => {
      stub.answer(reply);
      const { service } = provider(stub.url);
      assert.deepEqual((await service.deletePayment({ data: SESSION })).data, SESSION);
      assertStatusLookup(only());
    });
  }

  it("asks nothing for data without a session id (Medusa's clean-up after a failed session creation)", async () => {
    stub.answer(statusAnswer("authorized"));
    const { service } = provider(stub.url);
    assert.deepEqual((await service.deletePayment({ data: { cart: "x" } })).data, { cart: "x" });
    assert.equal(stub.requests.length, 0);
  });
});

describe("updatePayment", () => {
  for (const reply of [notFound, statusAnswer("requires_more"), statusAnswer("error")]) {
    const label = replyLabel(reply);
    it(`accepts a new amount and currency before anything was charged (${label})`, async () => {
      stub.answer(reply);
      const { service } = provider(stub.url);
      const out = await service.updatePayment({
        amount: new BigNumber("20.05"),
        currency_code: "usd",
        data: SESSION,
      });
      assertStatusLookup(only());
      assert.deepEqual(out.data, { ...SESSION, amount: "20.05", currency_code: "usd" });
    });
  }

  for (const status of ["authorized", "captured", "refunded", "pending", "unknown", "canceled"]) {
    it(`refuses a change once the service holds a ${status} payment`, async () => {
      stub.answer(statusAnswer(status));
      const { service } = provider(stub.url);
      const error = await rejection(
        service.updatePayment({ amount: 20, currency_code: "eur", data: SESSION }),
      );
      assert.equal(error.type, MedusaError.Types.NOT_ALLOWED);
      assert.match(error.message, new RegExp(`status "${status}"`));
    });
  }
});

describe("a service that does not answer", () => {
  beforeEach(() => stub.answer("hang"));

  for (const operation of ["capture", "refund", "cancel"] as const) {
    it(`reports the ${operation}'s outcome as unknown and to be reconciled, without retrying`, async () => {
      const { service } = provider(stub.url, { timeoutMs: 200 });
      const input = { amount: "1", data: SESSION, context: { idempotency_key: `key_${operation}` } };
      const call =
        operation === "capture"
          ? service.capturePayment(input)
          : operation === "refund"
            ? service.refundPayment(input)
            : service.cancelPayment(input);
      const error = await rejection(call);
      assert.equal(error.code, "outcome_unknown");
      assert.match(
        error.message,
        new RegExp(`did not answer within 200 ms during the ${operation}: its outcome is unknown`),
      );
      assert.match(error.message, /reconciles/);
      assert.equal(stub.requests.length, 1, "a money call is sent once");
    });
  }

  it("reports a status look-up it could not make as changing nothing", async () => {
    const { service } = provider(stub.url, { timeoutMs: 200 });
    const error = await rejection(service.authorizePayment({ data: SESSION }));
    assert.equal(error.code, "service_unavailable");
    assert.match(error.message, /nothing was changed/);
  });

  it("reports an unreachable service, never its key", async () => {
    const closed = await StubService.start();
    const url = closed.url;
    await closed.stop();
    const { service, logger } = provider(url);
    const error = await rejection(service.capturePayment({ data: SESSION }));
    assert.match(error.message, /could not be reached during the capture: its outcome is unknown/);
    assert.ok(!error.message.includes(SERVICE_KEY));
    assert.ok(!logger.lines.join("\n").includes(SERVICE_KEY));
  });
});
