import { MedusaError } from "@medusajs/framework/utils";

import type { ServiceAnswer } from "./client";

type Data = Record<string, unknown>;

/** What Medusa keeps of one of the service's account holders (`account_holder.data`): the holder's own fields. */
const HOLDER_FIELDS = ["id", "customer_id", "email", "created_at"] as const;

/** What Medusa and the storefront see of a saved card: the masked card only, never the gateway token. */
const CARD_FIELDS = [
  "id",
  "brand",
  "last4",
  "masked",
  "expiry_month",
  "expiry_year",
  "expired",
  "created_at",
] as const;

function pick(source: Data, fields: readonly string[]): Data {
  const picked: Data = {};
  for (const field of fields) {
    if (source[field] !== undefined) {
      picked[field] = source[field];
    }
  }
  return picked;
}

function invalidData(message: string): MedusaError {
  return new MedusaError(MedusaError.Types.INVALID_DATA, `NetValve payment provider: ${message}`);
}

/** A service answer's id, which every vault answer carries; an answer without one is no vault answer. */
function idOf(body: Data, what: string): string {
  const id = body["id"];
  if (typeof id !== "string" || id === "") {
    throw new MedusaError(
      MedusaError.Types.UNEXPECTED_STATE,
      `NetValve payment provider: the service's ${what} answer has no id.`,
    );
  }
  return id;
}

export function holderFromAnswer(answer: ServiceAnswer): { id: string; data: Data } {
  return { id: idOf(answer.body, "account holder"), data: pick(answer.body, HOLDER_FIELDS) };
}

export function cardFromAnswer(card: Data): { id: string; data: Data } {
  return { id: idOf(card, "saved card"), data: pick(card, CARD_FIELDS) };
}

/** The cards of a `GET /account-holders/{id}/cards` answer. */
export function cardsFromAnswer(answer: ServiceAnswer): Array<{ id: string; data: Data }> {
  const cards = answer.body["cards"];
  if (!Array.isArray(cards)) {
    throw new MedusaError(
      MedusaError.Types.UNEXPECTED_STATE,
      "NetValve payment provider: the service's saved card list has no cards.",
    );
  }
  return cards.map((card) => cardFromAnswer(typeof card === "object" && card !== null ? (card as Data) : {}));
}

/**
 * The service's holder id (`nvah_…`) of a Medusa account holder: `data.id` as `createAccountHolder` stored it,
 * else the `external_id` Medusa keeps (`deleteAccountHolder` passes the whole record).
 */
export function holderIdOf(holder: { data?: unknown; external_id?: unknown } | undefined): string {
  const data = holder?.data;
  const fromData = typeof data === "object" && data !== null ? (data as Data)["id"] : undefined;
  const id = typeof fromData === "string" && fromData !== "" ? fromData : holder?.external_id;
  if (typeof id !== "string" || id === "") {
    throw invalidData("the context has no NetValve account holder (account_holder.data.id).");
  }
  return id;
}

/** A saved card's id as Medusa passes it (`data.id`, or the `saved_card_id` a payment answered). */
export function cardIdOf(data: Data | undefined): string {
  const id = data?.["id"] ?? data?.["saved_card_id"];
  if (typeof id !== "string" || id === "") {
    throw invalidData("the payment method data has no saved card id (data.id).");
  }
  return id;
}

/** An id as one path segment. */
export function segment(id: string): string {
  return encodeURIComponent(id);
}
