import { MedusaError } from "@medusajs/framework/utils";

/** The provider's options, as written in `medusa-config.ts`. */
export type NetValveOptions = {
  /** Base URL of the NetValve payment service, e.g. `https://pay.example.com`. */
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
