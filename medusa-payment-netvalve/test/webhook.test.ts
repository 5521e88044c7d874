import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { describe, it } from "node:test";

import { BigNumber, PaymentActions } from "@medusajs/framework/utils";

import { toDecimalString } from "../src/money";
import { WEBHOOK_ACTIONS } from "../src/status";
import { WEBHOOK_SECRET, provider } from "./support";

const BODY = JSON.stringify({
  action: "captured",
  data: { session_id: "payses_01", amount: "12.30" },
  event_id: "nvwh_0123",
  occurred_at: "2026-12-01T09:00:00+00:00",
});

/** Signed the way the service's outbox signs (app/services/outbox.py `sign`), computed independently. */
function signature(body: string, timestamp: string, secret = WEBHOOK_SECRET): string {
  return "sha256=" + createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex");
}

function now(offsetSeconds = 0): string {
  return String(Math.floor(Date.now() / 1000) + offsetSeconds);
}

function delivery(body: string, headers: Record<string, unknown>, rawData: unknown = Buffer.from(body)) {
  return { data: JSON.parse(body) as Record<string, unknown>, rawData: rawData as Buffer, headers };
}

function signed(body = BODY, timestamp = now(), secret = WEBHOOK_SECRET): Record<string, string> {
  return { "x-netvalve-timestamp": timestamp, "x-netvalve-signature": signature(body, timestamp, secret) };
}

async function verdict(payload: ReturnType<typeof delivery>) {
  const { service, logger } = provider("http://127.0.0.1:9");
  return { result: await service.getWebhookActionAndData(payload), logger };
}

describe("getWebhookActionAndData", () => {
  it("takes a signed captured webhook from a Buffer, with the exact amount", async () => {
    const { result, logger } = await verdict(delivery(BODY, signed()));
    assert.equal(result.action, PaymentActions.SUCCESSFUL);
    assert.equal(result.data?.session_id, "payses_01");
    assert.ok(result.data?.amount instanceof BigNumber);
    assert.equal((result.data.amount as BigNumber).raw?.value, "12.300000000000000000");
    assert.equal(toDecimalString(result.data.amount), "12.3");
    assert.deepEqual(logger.lines, []);
  });

  it("takes the same webhook from a string raw body", async () => {
    const { result } = await verdict(delivery(BODY, signed(), BODY));
    assert.equal(result.action, PaymentActions.SUCCESSFUL);
  });

  it("takes a Buffer that went through JSON on an event bus", async () => {
    const { result } = await verdict(delivery(BODY, signed(), JSON.parse(JSON.stringify(Buffer.from(BODY)))));
    assert.equal(result.action, PaymentActions.SUCCESSFUL);
  });

  it("reads headers in any case and as one-element arrays", async () => {
    const headers = signed();
    const { result } = await verdict(
      delivery(BODY, {
        "X-NetValve-Timestamp": [headers["x-netvalve-timestamp"]],
        "X-NETVALVE-SIGNATURE": headers["x-netvalve-signature"],
      }),
    );
    assert.equal(result.action, PaymentActions.SUCCESSFUL);
  });

  it("accepts a timestamp four minutes off either way", async () => {
    for (const offset of [-240, 240]) {
      const { result } = await verdict(delivery(BODY, signed(BODY, now(offset))));
      assert.equal(result.action, PaymentActions.SUCCESSFUL);
    }
  });

  for (const [action, expected] of Object.entries(WEBHOOK_ACTIONS)) {
    it(`maps the action "${action}" to "${expected}"`, async () => {
      const body = JSON.stringify({ action, data: { session_id: "payses_02", amount: 5 } });
      const { result } = await verdict(delivery(body, signed(body)));
      assert.deepEqual(
        { action: result.action, session: result.data?.session_id },
        { action: expected, session: "payses_02" },
      );
      assert.equal(toDecimalString(result.data?.amount), "5");
    });
  }

  it("pins the action table", () => {
    assert.deepEqual(WEBHOOK_ACTIONS, {
      authorized: "authorized",
      captured: "captured",
      failed: "failed",
      pending: "pending",
      canceled: "canceled",
      requires_more: "requires_more",
    });
  });

  const refused: Array<[string, () => ReturnType<typeof delivery>, string]> = [
    ["a wrong secret", () => delivery(BODY, signed(BODY, now(), "another-secret")), "signature mismatch"],
    [
      "a tampered body",
      () => {
        const tampered = BODY.replace("12.30", "1230.00");
        return delivery(tampered, signed(BODY));
      },
      "signature mismatch",
    ],
    [
      "a timestamp six minutes old",
      () => delivery(BODY, signed(BODY, now(-360))),
      "timestamp outside the allowed window",
    ],
    [
      "a timestamp six minutes ahead",
      () => delivery(BODY, signed(BODY, now(360))),
      "timestamp outside the allowed window",
    ],
    [
      "a signature for another timestamp",
      () => delivery(BODY, { ...signed(BODY, now(-10)), "x-netvalve-timestamp": now() }),
      "signature mismatch",
    ],
    ["no signature header", () => delivery(BODY, { "x-netvalve-timestamp": now() }), "unsigned"],
    [
      "no timestamp header",
      () => delivery(BODY, { "x-netvalve-signature": signature(BODY, now()) }),
      "unsigned",
    ],
    ["no headers", () => delivery(BODY, {}), "unsigned"],
    ["a malformed timestamp", () => delivery(BODY, signed(BODY, "12abc")), "malformed timestamp"],
    [
      "a truncated signature",
      () => {
        const headers = signed();
        return delivery(BODY, {
          ...headers,
          "x-netvalve-signature": headers["x-netvalve-signature"]?.slice(0, 20),
        });
      },
      "signature mismatch",
    ],
    ["no raw body", () => delivery(BODY, signed(), null), "no raw body"],
    [
      "a signed body that is not JSON",
      () => ({ data: {}, rawData: Buffer.from("not json"), headers: signed("not json") }),
      "the body is not JSON",
    ],
    ...(
      [
        [
          "an unknown action",
          { action: "refunded", data: { session_id: "payses_1", amount: "1" } },
          "unknown action",
        ],
        ["no session id", { action: "captured", data: { amount: "1" } }, "no session_id"],
        ["no amount", { action: "captured", data: { session_id: "payses_1" } }, "no amount"],
        [
          "an amount that is not a decimal",
          { action: "captured", data: { session_id: "payses_1", amount: "12,30" } },
          "the amount is not a decimal",
        ],
        ["a body that is not an object", ["captured"], "unknown action"],
      ] as Array<[string, unknown, string]>
    ).map(([label, value, reason]): [string, () => ReturnType<typeof delivery>, string] => {
      const body = JSON.stringify(value);
      return [label, () => ({ data: {}, rawData: Buffer.from(body), headers: signed(body) }), reason];
    }),
  ];
  for (const [label, payload, reason] of refused) {
    it(`answers not_supported to ${label}, and logs why without the secret`, async () => {
      const { result, logger } = await verdict(payload());
      assert.deepEqual(result, { action: PaymentActions.NOT_SUPPORTED });
      assert.deepEqual(logger.lines, [`NetValve webhook ignored: ${reason}`]);
    });
  }

  it("reports a forwarded chargeback and answers not_supported, so Medusa changes nothing", async () => {
    const body = JSON.stringify({
      action: "not_supported",
      data: {
        session_id: "payses_03",
        dispute: {
          kind: "dispute",
          type: "Chargeback",
          source: "CB-Alert",
          amount: "15.50",
          disputed_amount: "15.50",
          currency_code: "EUR",
          status: "disputed",
          netvalve_transaction_id: 9001,
        },
      },
    });
    const { result, logger } = await verdict(delivery(body, signed(body)));
    assert.deepEqual(result, { action: PaymentActions.NOT_SUPPORTED });
    assert.deepEqual(logger.lines, [
      "NetValve dispute on payment session payses_03: Chargeback, amount 15.50 EUR, disputed in all 15.50. " +
        "Medusa records no disputes: review the order.",
    ]);
  });

  it("ignores not_supported without a dispute, and a dispute that is not signed", async () => {
    const plain = JSON.stringify({ action: "not_supported", data: { session_id: "payses_03" } });
    const unsigned = JSON.stringify({
      action: "not_supported",
      data: { session_id: "payses_03", dispute: {} },
    });
    for (const [payload, reason] of [
      [delivery(plain, signed(plain)), "unknown action"],
      [delivery(unsigned, signed(unsigned, now(), "another-secret")), "signature mismatch"],
    ] as const) {
      const { result, logger } = await verdict(payload);
      assert.deepEqual(result, { action: PaymentActions.NOT_SUPPORTED });
      assert.deepEqual(logger.lines, [`NetValve webhook ignored: ${reason}`]);
    }
  });

  it("trusts the signed raw body, not the parsed data Medusa passes beside it", async () => {
    const payload = delivery(BODY, signed());
    payload.data = { action: "captured", data: { session_id: "payses_forged", amount: "9999" } };
    const { result } = await verdict(payload);
    assert.equal(result.data?.session_id, "payses_01");
  });
});
