import { MedusaError } from "@medusajs/framework/utils";

import type { NetValveOptions } from "./options";

/** A call that moves money: its timeout means the outcome is unknown, not that nothing happened. */
export type Operation = "status" | "capture" | "refund" | "cancel" | VaultOperation;
/** Calls on the service's vault of account holders and saved cards: none moves money. */
export type VaultOperation =
  | "account holder creation"
  | "account holder look-up"
  | "account holder update"
  | "account holder deletion"
  | "saved card listing"
  | "saved card look-up"
  | "saved card deletion";
type Method = "GET" | "POST" | "PATCH" | "DELETE";
const MONEY_OPERATIONS: ReadonlySet<Operation> = new Set(["capture", "refund", "cancel"]);

export type ServiceAnswer = {
  status: number;
  body: Record<string, unknown>;
};

/** The service's error envelope (app/core/errors.py `ErrorResponse`). */
export type ServiceErrorBody = {
  code: string;
  message: string;
  request_id?: string | null;
  details?: unknown;
};

export function serviceError(answer: ServiceAnswer): ServiceErrorBody {
  const error = answer.body["error"];
  if (typeof error === "object" && error !== null) {
    const { code, message, request_id: requestId, details } = error as Record<string, unknown>;
    if (typeof code === "string" && typeof message === "string") {
      return {
        code,
        message,
        request_id: typeof requestId === "string" ? requestId : null,
        details,
      };
    }
  }
  return { code: `http_${answer.status}`, message: "The service answered without an error body." };
}

/** The `MedusaError` that shows the admin why the service refused: its code, message and request id. */
export function refusal(operation: Operation, answer: ServiceAnswer): MedusaError {
  const error = serviceError(answer);
  const details = error.details as Record<string, unknown> | null | undefined;
  const gatewayCode =
    typeof details === "object" && details !== null && typeof details["response_code"] === "string"
      ? `, NetValve ${details["response_code"]}`
      : "";
  const reference = error.request_id ? `, request ${error.request_id}` : "";
  const message =
    `NetValve service refused the ${operation} [${error.code}]: ${error.message} ` +
    `(HTTP ${answer.status}${gatewayCode}${reference})`;
  // 4xx: a decision the admin can act on; 5xx: the service or NetValve failed, Medusa keeps the message.
  const type = answer.status < 500 ? MedusaError.Types.NOT_ALLOWED : MedusaError.Types.UNEXPECTED_STATE;
  return new MedusaError(type, message, error.code);
}

/** The service's NetValve routes over HTTP; knows the paths, headers and error envelope, nothing else. */
export class ServiceClient {
  constructor(private readonly options: NetValveOptions) {}

  async status(sessionId: string): Promise<ServiceAnswer> {
    const query = new URLSearchParams({ payment_session_id: sessionId, refresh: "true" });
    return this.send("status", "GET", `/api/v1/netvalve/status?${query.toString()}`);
  }

  async post(
    operation: "capture" | "refund" | "cancel",
    body: Record<string, unknown>,
    idempotencyKey: string | undefined,
  ): Promise<ServiceAnswer> {
    return this.send(operation, "POST", `/api/v1/netvalve/${operation}`, body, idempotencyKey);
  }

  /** A vault route under `/api/v1/netvalve` (`path` with its leading `/`, ids already encoded). */
  async vault(
    operation: VaultOperation,
    method: Method,
    path: string,
    body?: Record<string, unknown>,
  ): Promise<ServiceAnswer> {
    return this.send(operation, method, `/api/v1/netvalve${path}`, body);
  }

  private async send(
    operation: Operation,
    method: Method,
    path: string,
    body?: Record<string, unknown>,
    idempotencyKey?: string,
  ): Promise<ServiceAnswer> {
    const headers: Record<string, string> = {
      accept: "application/json",
      authorization: `Bearer ${this.options.serviceApiKey}`,
    };
    if (body !== undefined) {
      headers["content-type"] = "application/json";
    }
    if (idempotencyKey) {
      headers["idempotency-key"] = idempotencyKey;
    }
    let status: number;
    let text: string;
    try {
      // One attempt, never retried here: a money call retried without its Idempotency-Key could run twice.
      const response = await fetch(this.options.serviceUrl + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      status = response.status;
      text = await response.text();
    } catch (error) {
      throw unreachable(operation, error, this.options.timeoutMs);
    }
    return { status, body: parseBody(text) };
  }
}

function parseBody(text: string): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : {};
  } catch {
    return {};
  }
}

function unreachable(operation: Operation, error: unknown, timeoutMs: number): MedusaError {
  const name = error instanceof Error ? error.name : "";
  const reason =
    name === "TimeoutError" || name === "AbortError"
      ? `did not answer within ${timeoutMs} ms`
      : "could not be reached";
  if (MONEY_OPERATIONS.has(operation)) {
    return new MedusaError(
      MedusaError.Types.UNEXPECTED_STATE,
      `NetValve service ${reason} during the ${operation}: its outcome is unknown. The service reconciles it ` +
        `with NetValve; check the payment's status there before trying the ${operation} again.`,
      "outcome_unknown",
    );
  }
  return new MedusaError(
    MedusaError.Types.UNEXPECTED_STATE,
    `NetValve service ${reason} for the ${operation === "status" ? "payment status" : operation}; nothing was ` +
      "changed. Try again later.",
    "service_unavailable",
  );
}
