import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { MedusaError } from "@medusajs/framework/utils";

import { NetValveProviderService } from "../src/service";
import { SERVICE_KEY, WEBHOOK_SECRET } from "./support";

const VALID = {
  serviceUrl: "https://pay.example.com/",
  serviceApiKey: SERVICE_KEY,
  webhookSecret: WEBHOOK_SECRET,
  timeoutMs: 15000,
};

function refusal(options: Record<string, unknown>): MedusaError {
  try {
    NetValveProviderService.validateOptions(options);
  } catch (error) {
    assert.ok(MedusaError.isMedusaError(error));
    return error as MedusaError;
  }
  assert.fail("the options were accepted");
}

describe("validateOptions", () => {
  it("accepts complete options, a timeout from the environment included", () => {
    NetValveProviderService.validateOptions(VALID);
    NetValveProviderService.validateOptions({ ...VALID, timeoutMs: "15000" });
  });

  for (const name of Object.keys(VALID)) {
    it(`refuses options without ${name}, naming it`, () => {
      const { [name as keyof typeof VALID]: _, ...rest } = VALID;
      const error = refusal(rest);
      assert.equal(error.type, MedusaError.Types.INVALID_DATA);
      assert.match(error.message, new RegExp(`"${name}" is required`));
      assert.match(refusal({ ...VALID, [name]: " " }).message, new RegExp(`"${name}" is required`));
    });
  }

  it("refuses a service URL that is not http(s)", () => {
    assert.match(refusal({ ...VALID, serviceUrl: "pay.example.com" }).message, /serviceUrl/);
  });

  it("refuses plain http to anything but a loopback address", () => {
    for (const serviceUrl of [
      "http://pay.example.com",
      "http://10.0.0.5:8000",
      "http://127.0.0.1.example.com",
      "http://localhost.example.com:8000",
      "HTTP://pay.example.com",
    ]) {
      assert.match(refusal({ ...VALID, serviceUrl }).message, /serviceUrl.*https/, serviceUrl);
    }
    const loopback = ["http://127.0.0.1:8000", "http://127.3.2.1", "http://localhost:8000/", "http://[::1]:8000"];
    for (const serviceUrl of loopback) {
      NetValveProviderService.validateOptions({ ...VALID, serviceUrl });
    }
  });

  it("refuses a timeout that is not a positive whole number", () => {
    for (const timeoutMs of [0, -5, 1.5, "soon", "15s"]) {
      assert.match(refusal({ ...VALID, timeoutMs }).message, /timeoutMs/);
    }
  });

  it("never puts a secret into its message", () => {
    const error = refusal({ ...VALID, timeoutMs: "soon" });
    assert.ok(!error.message.includes(SERVICE_KEY));
    assert.ok(!error.message.includes(WEBHOOK_SECRET));
  });

  it("refuses to construct with invalid options as well", () => {
    assert.throws(
      () => new NetValveProviderService({}, { ...VALID, serviceApiKey: "" }),
      /"serviceApiKey" is required/,
    );
  });
});
