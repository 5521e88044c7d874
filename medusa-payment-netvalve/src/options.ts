import { isIPv4 } from "node:net";

import { MedusaError } from "@medusajs/framework/utils";

/** The provider's options, as written in `medusa-config.ts`. */
export type NetValveOptions = {
  /** Base URL of the NetValve payment service, e.g. `https://pay.example.com`; `http://` only to a loopback
   * address (the service on the same host), since the service key travels with every call. */
  serviceUrl: string;
  /** One of the service's `SERVICE_API_KEYS`; sent as `Authorization: Bearer <key>`, never returned. */
  serviceApiKey: string;
  /** The service's `MEDUSA_WEBHOOK_SECRET`: the key of the HMAC on the webhooks it sends. */
  webhookSecret: string;
  /** How long one call to the service may take, in milliseconds. */
  timeoutMs: number;
};

const REQUIRED = ["serviceUrl", "serviceApiKey", "webhookSecret", "timeoutMs"] as const;

function invalid(message: string): never {
  throw new MedusaError(MedusaError.Types.INVALID_DATA, `NetValve payment provider: ${message}`);
}

/** Whether the URL's host is this machine: localhost, 127.0.0.0/8 or ::1. */
function isLoopback(url: string): boolean {
  let host: string;
  try {
    host = new URL(url).hostname;
  } catch {
    return false;
  }
  return host === "localhost" || host === "[::1]" || (isIPv4(host) && host.startsWith("127."));
}

/** The options checked and normalized; throws a `MedusaError` naming the first problem. */
export function parseOptions(options: Record<string, unknown> | undefined): NetValveOptions {
  const given = options ?? {};
  for (const name of REQUIRED) {
    const value = given[name];
    if (value === undefined || value === null || (typeof value === "string" && value.trim() === "")) {
      invalid(`the option "${name}" is required.`);
    }
  }
  const { serviceUrl, serviceApiKey, webhookSecret, timeoutMs } = given;
  if (typeof serviceUrl !== "string" || !/^https?:\/\/[^/\s]+/i.test(serviceUrl)) {
    invalid(`"serviceUrl" must be an http(s) URL such as https://pay.example.com.`);
  }
  if (!/^https:/i.test(serviceUrl) && !isLoopback(serviceUrl)) {
    invalid(`"serviceUrl" must be https:// (plain http only to a loopback address such as http://127.0.0.1:8000).`);
  }
  if (typeof serviceApiKey !== "string") {
    invalid(`"serviceApiKey" must be a string.`);
  }
  if (typeof webhookSecret !== "string") {
    invalid(`"webhookSecret" must be a string.`);
  }
  // Values from the environment arrive as strings: "15000" is as good as 15000.
  const timeout = typeof timeoutMs === "string" && /^\d+$/.test(timeoutMs) ? Number(timeoutMs) : timeoutMs;
  if (typeof timeout !== "number" || !Number.isInteger(timeout) || timeout <= 0) {
    invalid(`"timeoutMs" must be a positive whole number of milliseconds.`);
  }
  return {
    serviceUrl: serviceUrl.replace(/\/+$/, ""),
    serviceApiKey,
    webhookSecret,
    timeoutMs: timeout,
  };
}
