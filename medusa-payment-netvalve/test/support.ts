import { type IncomingHttpHeaders, type Server, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";

import type { NetValveOptions } from "../src/options";
import { NetValveProviderService } from "../src/service";

export type Recorded = {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: string;
};

/** What the stub answers to one request; `hang` never answers (for timeouts). */
export type Reply = { status: number; body?: unknown } | "hang";

/** The service played by a real HTTP server on 127.0.0.1: it records requests and answers from a script. */
export class StubService {
  readonly requests: Recorded[] = [];
  private readonly server: Server;
  private reply: (request: Recorded) => Reply = () => ({ status: 500 });

  private constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        const url = new URL(req.url ?? "/", "http://stub");
        const recorded: Recorded = {
          method: req.method ?? "",
          path: url.pathname,
          query: url.searchParams,
          headers: req.headers,
          body: Buffer.concat(chunks).toString("utf8"),
        };
        this.requests.push(recorded);
        answer(res, this.reply(recorded));
      });
    });
  }

  static async start(): Promise<StubService> {
    const stub = new StubService();
    await new Promise<void>((resolve) => stub.server.listen(0, "127.0.0.1", resolve));
    return stub;
  }

  get url(): string {
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  /** Answer every request with `reply` (a function of the request, or one fixed reply). */
  answer(reply: Reply | ((request: Recorded) => Reply)): void {
    this.reply = typeof reply === "function" ? reply : () => reply;
    this.requests.length = 0;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function answer(res: ServerResponse, reply: Reply): void {
  if (reply === "hang") {
    return;
  }
  res.writeHead(reply.status, { "content-type": "application/json" });
  res.end(reply.body === undefined ? "" : JSON.stringify(reply.body));
}

/** The service's error envelope (app/core/errors.py). */
export function serviceError(status: number, code: string, message: string, details?: unknown): Reply {
  return { status, body: { error: { code, message, request_id: "req-1", details: details ?? null } } };
}

export const notFound = serviceError(
  404,
  "payment_not_found",
  "No NetValve payment matches these identifiers.",
);

/** A reply's name in a test title: its service status, or "nothing paid" for a 404. */
export function replyLabel(reply: Reply): string {
  if (reply === notFound) {
    return "nothing paid";
  }
  const body = reply === "hang" ? undefined : (reply.body as { status?: string } | undefined);
  return body?.status ?? "no status";
}

/** The service's status answer (StatusResponse) for a session. */
export function statusAnswer(status: string, extra: Record<string, unknown> = {}): Reply {
  return {
    status: 200,
    body: {
      status,
      source: "netvalve",
      cart_id: "cart_1",
      payment_session_id: "payses_1",
      currency_code: "eur",
      amount: "12.30",
      netvalve_transaction_id: 9001,
      response_code: "GTW_1000",
      ...extra,
    },
  };
}

/** The service's money-operation answer (MoneyOperationResponse). */
export function moneyAnswer(httpStatus: number, status: string, extra: Record<string, unknown> = {}): Reply {
  return {
    status: httpStatus,
    body: {
      status,
      payment_session_id: "payses_1",
      cart_id: "cart_1",
      currency_code: "eur",
      amount: "12.30",
      authorized_amount: "12.30",
      captured_amount: "0",
      refunded_amount: "0",
      netvalve_transaction_id: 9001,
      operation_transaction_id: 9002,
      response_code: "GTW_1000",
      already_done: false,
      ...extra,
    },
  };
}

export const SERVICE_KEY = "svc-key-0123456789";
export const WEBHOOK_SECRET = "whsec-abcdef";

export class RecordingLogger {
  readonly lines: string[] = [];
  info = (message: string): void => void this.lines.push(message);
  warn = (message: string): void => void this.lines.push(message);
  error = (message: string): void => void this.lines.push(message);
  debug = (message: string): void => void this.lines.push(message);
}

export function provider(
  serviceUrl: string,
  options: Record<string, unknown> = {},
): { service: NetValveProviderService; logger: RecordingLogger } {
  const logger = new RecordingLogger();
  const service = new NetValveProviderService({ logger }, {
    serviceUrl,
    serviceApiKey: SERVICE_KEY,
    webhookSecret: WEBHOOK_SECRET,
    timeoutMs: 2000,
    ...options,
  } as NetValveOptions);
  return { service, logger };
}
