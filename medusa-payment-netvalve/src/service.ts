import type {
  AuthorizePaymentInput,
  AuthorizePaymentOutput,
  CancelPaymentInput,
  CancelPaymentOutput,
  CapturePaymentInput,
  CapturePaymentOutput,
  CreateAccountHolderInput,
  CreateAccountHolderOutput,
  DeleteAccountHolderInput,
  DeleteAccountHolderOutput,
  DeletePaymentInput,
  DeletePaymentMethodInput,
  DeletePaymentMethodOutput,
  DeletePaymentOutput,
  GetPaymentStatusInput,
  GetPaymentStatusOutput,
  InitiatePaymentInput,
  InitiatePaymentOutput,
  ListPaymentMethodsInput,
  ListPaymentMethodsOutput,
  Logger,
  PaymentProviderInput,
  ProviderWebhookPayload,
  RefundPaymentInput,
  RefundPaymentOutput,
  RetrieveAccountHolderInput,
  RetrieveAccountHolderOutput,
  RetrievePaymentInput,
  RetrievePaymentOutput,
  SavePaymentMethodInput,
  SavePaymentMethodOutput,
  UpdateAccountHolderInput,
  UpdateAccountHolderOutput,
  UpdatePaymentInput,
  UpdatePaymentOutput,
  WebhookActionResult,
} from "@medusajs/framework/types";
import { AbstractPaymentProvider, MedusaError, PaymentSessionStatus } from "@medusajs/framework/utils";

import { type ServiceAnswer, ServiceClient, refusal, serviceError } from "./client";
import { toDecimalString } from "./money";
import { type NetValveOptions, parseOptions } from "./options";
import { sessionStatus } from "./status";
import { cardIdOf, cardsFromAnswer, holderFromAnswer, holderIdOf, segment } from "./vault";
import { verifyWebhook } from "./webhook";

type Data = Record<string, unknown>;

/** What the service knows of a session: nothing yet (404 payment_not_found), or its status answer. */
type Lookup = { found: false } | { found: true; status: string; answer: ServiceAnswer };

/** Statuses in which nothing was charged, so the session's amount or currency may still change. */
const UNPAID = new Set(["requires_more", "error"]);

function invalidData(message: string): MedusaError {
  return new MedusaError(MedusaError.Types.INVALID_DATA, `NetValve payment provider: ${message}`);
}

/** The session's id in Medusa's data (`session_id`, set by Medusa on every payment session). */
function sessionIdOf(input: PaymentProviderInput, orKey = false): string {
  const id = input.data?.["session_id"] ?? (orKey ? input.context?.idempotency_key : undefined);
  if (typeof id !== "string" || id === "") {
    throw invalidData("the payment data has no session_id.");
  }
  return id;
}

/** Only the service's own "no such payment" means nothing was paid; any other 404 is a wrong serviceUrl. */
function nothingPaid(answer: ServiceAnswer): boolean {
  return answer.status === 404 && serviceError(answer).code === "payment_not_found";
}

/** The ids worth keeping from a service answer, merged over the data Medusa already holds. */
function mergeAnswer(data: Data | undefined, answer: ServiceAnswer): Data {
  const merged: Data = { ...data };
  for (const field of ["status", "netvalve_transaction_id"] as const) {
    const value = answer.body[field];
    if (value !== undefined && value !== null) {
      merged[field] = value;
    }
  }
  return merged;
}

/** A deletion's answer, only the fields it documents. */
function pickDeleted(body: Data, fields: readonly string[]): Data {
  return Object.fromEntries(fields.filter((field) => body[field] !== undefined).map((field) => [field, body[field]]));
}

export class NetValveProviderService extends AbstractPaymentProvider<NetValveOptions> {
  static override identifier = "netvalve";

  protected readonly options_: NetValveOptions;
  protected readonly client_: ServiceClient;
  protected readonly logger_: Logger | undefined;

  static override validateOptions(options: Record<string, unknown>): void {
    parseOptions(options);
  }

  constructor(cradle: Record<string, unknown>, options: NetValveOptions) {
    super(cradle, options);
    this.options_ = parseOptions(options);
    this.client_ = new ServiceClient(this.options_);
    this.logger_ = cradle["logger"] as Logger | undefined;
  }

  /** No gateway call: the storefront pays through the service, which reads the amount from Medusa. */
  async initiatePayment(input: InitiatePaymentInput): Promise<InitiatePaymentOutput> {
    const sessionId = sessionIdOf(input, true);
    return {
      id: sessionId,
      data: {
        ...input.data,
        session_id: sessionId,
        amount: toDecimalString(input.amount),
        currency_code: input.currency_code,
        service_url: this.options_.serviceUrl,
      },
    };
  }

  async updatePayment(input: UpdatePaymentInput): Promise<UpdatePaymentOutput> {
    const lookup = await this.lookUp(sessionIdOf(input, true));
    if (lookup.found && !UNPAID.has(lookup.status)) {
      throw new MedusaError(
        MedusaError.Types.NOT_ALLOWED,
        `NetValve payment provider: the session is already paid at NetValve (status "${lookup.status}"), ` +
          "so its amount or currency cannot change; cancel it and start a new payment session.",
      );
    }
    return {
      data: {
        ...input.data,
        amount: toDecimalString(input.amount),
        currency_code: input.currency_code,
      },
    };
  }

  async authorizePayment(input: AuthorizePaymentInput): Promise<AuthorizePaymentOutput> {
    const lookup = await this.lookUp(sessionIdOf(input, true));
    if (!lookup.found) {
      return { status: PaymentSessionStatus.REQUIRES_MORE, data: { ...input.data } };
    }
    return { status: sessionStatus(lookup.status), data: mergeAnswer(input.data, lookup.answer) };
  }

  async getPaymentStatus(input: GetPaymentStatusInput): Promise<GetPaymentStatusOutput> {
    const lookup = await this.lookUp(sessionIdOf(input, true));
    if (!lookup.found) {
      return { status: PaymentSessionStatus.PENDING, data: { ...input.data } };
    }
    return { status: sessionStatus(lookup.status), data: mergeAnswer(input.data, lookup.answer) };
  }

  async retrievePayment(input: RetrievePaymentInput): Promise<RetrievePaymentOutput> {
    const lookup = await this.lookUp(sessionIdOf(input, true));
    return { data: lookup.found ? mergeAnswer(input.data, lookup.answer) : { ...input.data } };
  }

  /**
   * Full capture of the authorization. An open outcome (202) is thrown, so Medusa records no capture that
   * NetValve may not have made: the service's `captured` webhook, or a later capture (which the service
   * answers as already done), records it once NetValve confirms.
   */
  async capturePayment(input: CapturePaymentInput): Promise<CapturePaymentOutput> {
    const answer = await this.client_.post(
      "capture",
      { payment_session_id: sessionIdOf(input) },
      input.context?.idempotency_key,
    );
    if (answer.status === 202) {
      throw new MedusaError(
        MedusaError.Types.UNEXPECTED_STATE,
        "NetValve has not confirmed the capture yet (outcome open; the service reconciles it). Medusa records " +
          "no capture now: the service's webhook records it once NetValve confirms, or capture again after " +
          "the service shows the payment settled (a capture already made is answered as done, never repeated).",
        "capture_pending",
      );
    }
    return { data: this.settled("capture", input.data, answer) };
  }

  /**
   * An open outcome (202) is recorded as a refund: repeating it could pay the customer twice, while a refund
   * that NetValve turns out not to have made shows in the service's ledger (refunded_amount, status).
   */
  async refundPayment(input: RefundPaymentInput): Promise<RefundPaymentOutput> {
    const amount = toDecimalString(input.amount);
    if (!/^\d+(\.\d+)?$/.test(amount) || !/[1-9]/.test(amount)) {
      throw invalidData(`a refund amount must be positive, got ${amount}.`);
    }
    const answer = await this.client_.post(
      "refund",
      { payment_session_id: sessionIdOf(input), amount },
      input.context?.idempotency_key,
    );
    return { data: this.settled("refund", input.data, answer) };
  }

  /** Voids the authorization. Nothing at the service means nothing to void; an open outcome (202) is
   * recorded, because a void that did not happen leaves only an uncaptured hold that lapses. */
  async cancelPayment(input: CancelPaymentInput): Promise<CancelPaymentOutput> {
    return { data: await this.cancel(sessionIdOf(input), input.data, input.context?.idempotency_key) };
  }

  /** A replaced session: its authorization, if the service holds one, is voided; otherwise nothing. Data
   * without a session id (Medusa's clean-up when creating the session failed) names nothing to void. */
  async deletePayment(input: DeletePaymentInput): Promise<DeletePaymentOutput> {
    const sessionId = input.data?.["session_id"];
    if (typeof sessionId !== "string" || sessionId === "") {
      return { data: { ...input.data } };
    }
    const lookup = await this.lookUp(sessionId);
    if (lookup.found && lookup.status === "authorized") {
      return { data: await this.cancel(sessionId, input.data, input.context?.idempotency_key) };
    }
    return { data: { ...input.data } };
  }

  async getWebhookActionAndData(payload: ProviderWebhookPayload["payload"]): Promise<WebhookActionResult> {
    const verdict = verifyWebhook(payload, this.options_.webhookSecret, Math.floor(Date.now() / 1000));
    if (verdict.rejected !== null) {
      this.logger_?.warn(`NetValve webhook ignored: ${verdict.rejected}`);
    }
    const dispute = verdict.dispute;
    if (dispute !== undefined) {
      this.logger_?.warn(
        `NetValve ${dispute.kind} on payment session ${dispute.sessionId}: ${dispute.type ?? "unspecified"}, ` +
          `amount ${dispute.amount ?? "unknown"} ${dispute.currency ?? ""}, disputed in all ` +
          `${dispute.disputedAmount ?? "unknown"}. Medusa records no disputes: review the order.`,
      );
    }
    return verdict.result;
  }

  /**
   * The service's account holder of a registered Medusa customer. A holder Medusa already links to the customer
   * is returned as it is (Medusa issue #15593: a second holder for the same customer breaks its link). A customer
   * the service keeps no holder for (not registered, saved cards off) gets none, so the checkout goes on
   * without saved cards instead of failing.
   */
  async createAccountHolder(input: CreateAccountHolderInput): Promise<CreateAccountHolderOutput> {
    const existing = input.context.account_holder;
    if (existing !== undefined && existing !== null) {
      return { id: holderIdOf(existing), data: { ...existing.data } };
    }
    const customer = input.context.customer;
    if (typeof customer?.id !== "string" || customer.id === "") {
      throw invalidData("creating an account holder needs the Medusa customer (context.customer.id).");
    }
    const body: Data = { customer_id: customer.id };
    if (typeof customer.email === "string" && customer.email !== "") {
      body["email"] = customer.email;
    }
    const answer = await this.client_.vault("account holder creation", "POST", "/account-holders", body);
    if (answer.status === 200 || answer.status === 201) {
      return holderFromAnswer(answer);
    }
    if (answer.status >= 400 && answer.status < 500 && answer.status !== 401 && answer.status !== 403) {
      this.logger_?.warn(
        `NetValve keeps no account holder for customer ${customer.id} [${serviceError(answer).code}]: ` +
          "the customer pays without saved cards.",
      );
      // Medusa's payment module creates no holder for an empty answer (as for a provider without holders).
      return {} as CreateAccountHolderOutput;
    }
    throw refusal("account holder creation", answer);
  }

  async retrieveAccountHolder(input: RetrieveAccountHolderInput): Promise<RetrieveAccountHolderOutput> {
    const id = input.id || holderIdOf(input.context?.account_holder);
    const answer = await this.client_.vault("account holder look-up", "GET", `/account-holders/${segment(id)}`);
    if (answer.status !== 200) {
      throw refusal("account holder look-up", answer);
    }
    return holderFromAnswer(answer);
  }

  /** The customer's new email on the service's holder; its id and cards do not change. */
  async updateAccountHolder(input: UpdateAccountHolderInput): Promise<UpdateAccountHolderOutput> {
    const id = holderIdOf(input.context.account_holder);
    const email = input.context.customer?.email;
    const body: Data = typeof email === "string" && email !== "" ? { email } : {};
    const answer = await this.client_.vault(
      "account holder update",
      "PATCH",
      `/account-holders/${segment(id)}`,
      body,
    );
    if (answer.status !== 200) {
      throw refusal("account holder update", answer);
    }
    return { data: holderFromAnswer(answer).data };
  }

  /** Deletes the holder and its saved cards from the service's vault; a holder already gone is done. */
  async deleteAccountHolder(input: DeleteAccountHolderInput): Promise<DeleteAccountHolderOutput> {
    const id = holderIdOf(input.context.account_holder);
    const answer = await this.client_.vault("account holder deletion", "DELETE", `/account-holders/${segment(id)}`);
    if (answer.status === 404 && serviceError(answer).code === "account_holder_not_found") {
      return { data: { id, deleted: true, cards_deleted: 0 } };
    }
    if (answer.status !== 200) {
      throw refusal("account holder deletion", answer);
    }
    return { data: pickDeleted(answer.body, ["id", "deleted", "cards_deleted"]) };
  }

  /** The holder's saved cards, masked as the service answers them; never a gateway token. */
  async listPaymentMethods(input: ListPaymentMethodsInput): Promise<ListPaymentMethodsOutput> {
    const id = holderIdOf(input.context?.account_holder);
    const answer = await this.client_.vault(
      "saved card listing",
      "GET",
      `/account-holders/${segment(id)}/cards`,
    );
    if (answer.status !== 200) {
      throw refusal("saved card listing", answer);
    }
    return cardsFromAnswer(answer);
  }

  /**
   * A card is saved only by the shopper's payment with `save_card: true` (the consent and the initial
   * credential-on-file sale): this returns such a card of the holder (`data.id` or `data.saved_card_id`), and
   * saves nothing new.
   */
  async savePaymentMethod(input: SavePaymentMethodInput): Promise<SavePaymentMethodOutput> {
    const holderId = holderIdOf(input.context?.account_holder);
    const cardId = cardIdOf(input.data);
    const answer = await this.client_.vault(
      "saved card look-up",
      "GET",
      `/account-holders/${segment(holderId)}/cards`,
    );
    if (answer.status !== 200) {
      throw refusal("saved card look-up", answer);
    }
    const card = cardsFromAnswer(answer).find((saved) => saved.id === cardId);
    if (card === undefined) {
      throw new MedusaError(
        MedusaError.Types.NOT_ALLOWED,
        `NetValve payment provider: the account holder has no saved card ${cardId}. Cards are saved by the ` +
          "customer's own payment with save_card: true, never from Medusa.",
        "saved_card_not_found",
      );
    }
    return card;
  }

  /** Deletes a saved card from the service's vault; a card already gone is done. */
  async deletePaymentMethod(input: DeletePaymentMethodInput): Promise<DeletePaymentMethodOutput> {
    const id = cardIdOf(input.data);
    const answer = await this.client_.vault("saved card deletion", "DELETE", `/saved-cards/${segment(id)}`);
    if (answer.status === 404 && serviceError(answer).code === "saved_card_not_found") {
      return { data: { id, deleted: true } };
    }
    if (answer.status !== 200) {
      throw refusal("saved card deletion", answer);
    }
    return { data: pickDeleted(answer.body, ["id", "deleted"]) };
  }

  private async lookUp(sessionId: string): Promise<Lookup> {
    const answer = await this.client_.status(sessionId);
    if (answer.status === 200 && typeof answer.body["status"] === "string") {
      return { found: true, status: answer.body["status"], answer };
    }
    if (nothingPaid(answer)) {
      return { found: false };
    }
    throw refusal("status", answer);
  }

  private async cancel(
    sessionId: string,
    data: Data | undefined,
    idempotencyKey: string | undefined,
  ): Promise<Data> {
    const answer = await this.client_.post("cancel", { payment_session_id: sessionId }, idempotencyKey);
    if (nothingPaid(answer)) {
      return { ...data };
    }
    return this.settled("cancel", data, answer);
  }

  /** A money operation's answer as payment data: 200 done, 202 open (reconciliation settles it), else thrown. */
  private settled(
    operation: "capture" | "refund" | "cancel",
    data: Data | undefined,
    answer: ServiceAnswer,
  ): Data {
    if (answer.status !== 200 && answer.status !== 202) {
      throw refusal(operation, answer);
    }
    const merged = mergeAnswer(data, answer);
    const transactionId = answer.body["operation_transaction_id"];
    if (transactionId !== undefined && transactionId !== null) {
      merged[`${operation}_transaction_id`] = transactionId;
    }
    merged[`${operation}_outcome`] = answer.status === 202 ? "pending" : "approved";
    if (answer.status === 202) {
      this.logger_?.warn(`NetValve ${operation} outcome is open for session ${String(merged["session_id"])}`);
    }
    return merged;
  }
}
