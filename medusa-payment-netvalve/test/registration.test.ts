import assert from "node:assert/strict";
import { resolve } from "node:path";
import { describe, it } from "node:test";

import { moduleProviderLoader } from "@medusajs/framework/modules-sdk";

import { SERVICE_KEY, WEBHOOK_SECRET } from "./support";

// The package folder, as medusa-config's `resolve` names it (this file runs from dist-test/test/).
const PACKAGE = resolve(__dirname, "..", "..");
const OPTIONS = {
  serviceUrl: "http://127.0.0.1:9",
  serviceApiKey: SERVICE_KEY,
  webhookSecret: WEBHOOK_SECRET,
  timeoutMs: 1000,
};

type Registered = { identifier: string; id: string; options: unknown };

async function load(options: Record<string, unknown>): Promise<Registered[]> {
  const registered: Registered[] = [];
  await moduleProviderLoader({
    container: {} as never,
    providers: [{ resolve: PACKAGE, id: "netvalve", options }],
    registerServiceFn: async (
      service: { identifier: string },
      _container: unknown,
      details: { id: string; options: unknown },
    ) => {
      registered.push({ identifier: service.identifier, id: details.id, options: details.options });
    },
  });
  return registered;
}

describe("Medusa's module provider loader", () => {
  it("loads the provider from the package folder's build, as pp_netvalve_netvalve's parts", async () => {
    const registered = await load(OPTIONS);
    assert.deepEqual(registered, [{ identifier: "netvalve", id: "netvalve", options: OPTIONS }]);
  });

  it("refuses incomplete options through validateOptions", async () => {
    await assert.rejects(load({ ...OPTIONS, webhookSecret: undefined }), /"webhookSecret" is required/);
  });
});
