import { PaymentActions, PaymentSessionStatus } from "@medusajs/framework/utils";

/** The service's payment statuses (app/models/payment.py `PaymentStatus`). */
export type ServiceStatus =
  | "pending"
  | "requires_more"
  | "authorized"
  | "captured"
  | "refunded"
  | "disputed"
  | "canceled"
  | "error"
  | "unknown";

/** The service's status in Medusa's session vocabulary. Medusa tracks refunds itself, so `refunded` is
 * still a captured session, and so is `disputed` (a chargeback took money back: Medusa has no word for it);
 * `unknown` (an outcome NetValve has not settled) is pending. */
export const SESSION_STATUS: Readonly<Record<ServiceStatus, PaymentSessionStatus>> = {
  pending: PaymentSessionStatus.PENDING,
  unknown: PaymentSessionStatus.PENDING,
  requires_more: PaymentSessionStatus.REQUIRES_MORE,
  authorized: PaymentSessionStatus.AUTHORIZED,
  captured: PaymentSessionStatus.CAPTURED,
  refunded: PaymentSessionStatus.CAPTURED,
  disputed: PaymentSessionStatus.CAPTURED,
  canceled: PaymentSessionStatus.CANCELED,
  error: PaymentSessionStatus.ERROR,
};

/** A status the service may report that Medusa has no word for maps to `error`, never to a paid state. */
export function sessionStatus(status: unknown): PaymentSessionStatus {
  return typeof status === "string" && Object.hasOwn(SESSION_STATUS, status)
    ? SESSION_STATUS[status as ServiceStatus]
    : PaymentSessionStatus.ERROR;
}

/** The `action` of the service's outbox webhooks, as Medusa's webhook actions. */
export const WEBHOOK_ACTIONS: Readonly<Record<string, PaymentActions>> = {
  authorized: PaymentActions.AUTHORIZED,
  captured: PaymentActions.SUCCESSFUL,
  failed: PaymentActions.FAILED,
  pending: PaymentActions.PENDING,
  canceled: PaymentActions.CANCELED,
  requires_more: PaymentActions.REQUIRES_MORE,
};
