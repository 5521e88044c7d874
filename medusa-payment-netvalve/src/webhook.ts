import { createHmac, timingSafeEqual } from "node:crypto";

import { BigNumber, PaymentActions } from "@medusajs/framework/utils";
import type { WebhookActionResult } from "@medusajs/framework/types";

import { normalizeDecimal } from "./money";
import { WEBHOOK_ACTIONS } from "./status";

export const TIMESTAMP_HEADER = "x-netvalve-timestamp";
export const SIGNATURE_HEADER = "x-netvalve-signature";
/** How far a webhook's timestamp may be from now, either way: replays of old deliveries are refused. */
export const MAX_SKEW_SECONDS = 300;

export type WebhookPayload = {
  data?: Record<string, unknown>;
  rawData?: unknown;
  headers?: Record<string, unknown>;
};

/** A chargeback notice the service forwards as `not_supported` with `data.dispute` (app/services/disputes.py
 * `dispute_data`): Medusa has no dispute action, so it changes nothing and the provider only reports it. */
export type DisputeNotice = {
  sessionId: string;
  kind: string;
  type: string | null;
  amount: string | null;
  disputedAmount: string | null;
  currency: string | null;
};

/** Why a webhook was ignored (`null` when it was taken), and the dispute it carried, if any. */
export type Verdict = { result: WebhookActionResult; rejected: string | null; dispute?: DisputeNotice };

const NOT_SUPPORTED: WebhookActionResult = { action: PaymentActions.NOT_SUPPORTED };

/** `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`, as the service's outbox signs (outbox.py `sign`). */
export function sign(secret: string, timestamp: string, body: Buffer): string {
  const digest = createHmac("sha256", secret)
    .update(Buffer.concat([Buffer.from(`${timestamp}.`), body]))
    .digest("hex");
  return `sha256=${digest}`;
}

function header(headers: Record<string, unknown> | undefined, name: string): string | undefined {
  if (!headers) {
    return undefined;
  }
  const key = Object.keys(headers).find((candidate) => candidate.toLowerCase() === name);
  const value = key === undefined ? undefined : headers[key];
  if (Array.isArray(value)) {
    return value.length === 1 && typeof value[0] === "string" ? value[0] : undefined;
  }
  return typeof value === "string" ? value : undefined;
}

/** The exact bytes Medusa received: a Buffer, a string, or a Buffer that went through JSON on an event bus. */
function rawBytes(rawData: unknown): Buffer | undefined {
  if (Buffer.isBuffer(rawData)) {
    return rawData;
  }
  if (typeof rawData === "string") {
    return Buffer.from(rawData, "utf8");
  }
  if (typeof rawData === "object" && rawData !== null) {
    const { type, data } = rawData as Record<string, unknown>;
    if (type === "Buffer" && Array.isArray(data) && data.every((byte) => Number.isInteger(byte))) {
      return Buffer.from(data as number[]);
    }
  }
  return undefined;
}

function signatureMatches(expected: string, received: string): boolean {
  const a = Buffer.from(expected, "utf8");
  const b = Buffer.from(received, "utf8");
  return a.length === b.length && timingSafeEqual(a, b);
}

function disputeOf(body: unknown): DisputeNotice | undefined {
  if (typeof body !== "object" || body === null) {
    return undefined;
  }
  const { action, data } = body as Record<string, unknown>;
  if (action !== "not_supported" || typeof data !== "object" || data === null) {
    return undefined;
  }
  const { session_id: sessionId, dispute } = data as Record<string, unknown>;
  if (typeof sessionId !== "string" || sessionId === "" || typeof dispute !== "object" || dispute === null) {
    return undefined;
  }
  const fields = dispute as Record<string, unknown>;
  const text = (value: unknown): string | null => (typeof value === "string" ? value : null);
  return {
    sessionId,
    kind: text(fields["kind"]) ?? "dispute",
    type: text(fields["type"]),
    amount: text(fields["amount"]),
    disputedAmount: text(fields["disputed_amount"]),
    currency: text(fields["currency_code"]),
  };
}

function actionData(body: unknown): WebhookActionResult | string {
  if (typeof body !== "object" || body === null) {
    return "the body is not a JSON object";
  }
  const { action, data } = body as Record<string, unknown>;
  const mapped =
    typeof action === "string" && Object.hasOwn(WEBHOOK_ACTIONS, action)
      ? WEBHOOK_ACTIONS[action]
      : undefined;
  if (mapped === undefined) {
    return "unknown action";
  }
  if (typeof data !== "object" || data === null) {
    return "no data";
  }
  const { session_id: sessionId, amount } = data as Record<string, unknown>;
  if (typeof sessionId !== "string" || sessionId === "") {
    return "no session_id";
  }
  if (typeof amount !== "string" && typeof amount !== "number") {
    return "no amount";
  }
  let exact: string;
  try {
    exact = normalizeDecimal(String(amount));
  } catch {
    return "the amount is not a decimal";
  }
  return { action: mapped, data: { session_id: sessionId, amount: new BigNumber(exact) } };
}

/**
 * The Medusa action of a webhook from the service, once its signature and age are verified over the raw
 * body; anything else is `not_supported`, which makes Medusa change nothing.
 */
export function verifyWebhook(payload: WebhookPayload, secret: string, nowSeconds: number): Verdict {
  const reject = (reason: string): Verdict => ({ result: NOT_SUPPORTED, rejected: reason });
  const timestamp = header(payload.headers, TIMESTAMP_HEADER);
  const signature = header(payload.headers, SIGNATURE_HEADER);
  if (timestamp === undefined || signature === undefined) {
    return reject("unsigned");
  }
  if (!/^\d{1,12}$/.test(timestamp)) {
    return reject("malformed timestamp");
  }
  if (Math.abs(nowSeconds - Number(timestamp)) > MAX_SKEW_SECONDS) {
    return reject("timestamp outside the allowed window");
  }
  const body = rawBytes(payload.rawData);
  if (body === undefined) {
    return reject("no raw body");
  }
  if (!signatureMatches(sign(secret, timestamp, body), signature.trim())) {
    return reject("signature mismatch");
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString("utf8"));
  } catch {
    return reject("the body is not JSON");
  }
  const dispute = disputeOf(parsed);
  if (dispute !== undefined) {
    return { result: NOT_SUPPORTED, rejected: null, dispute };
  }
  const outcome = actionData(parsed);
  return typeof outcome === "string" ? reject(outcome) : { result: outcome, rejected: null };
}
