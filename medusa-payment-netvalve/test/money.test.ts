import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { BigNumber } from "@medusajs/framework/utils";

import { normalizeDecimal, toDecimalString } from "../src/money";

describe("toDecimalString", () => {
  it("keeps a Medusa BigNumber exact, whatever it was built from", () => {
    assert.equal(toDecimalString(new BigNumber(1.23)), "1.23");
    assert.equal(toDecimalString(new BigNumber("1.23")), "1.23");
    assert.equal(toDecimalString(new BigNumber({ value: "1.2300000000000000000", precision: 20 })), "1.23");
    assert.equal(toDecimalString(new BigNumber("123456789.123456789")), "123456789.123456789");
  });

  it("reads a raw {value, precision} object", () => {
    assert.equal(toDecimalString({ value: "1.2300000000000000000", precision: 20 }), "1.23");
    assert.equal(toDecimalString({ value: "12", precision: 20 }), "12");
    assert.equal(toDecimalString({ value: 0.1 }), "0.1");
  });

  it("reads a bignumber.js instance without going through a float", () => {
    const exact = new BigNumber("0.30000000000000000001").bigNumber;
    assert.ok(exact);
    assert.equal(toDecimalString(exact), "0.30000000000000000001");
  });

  it("writes numbers by their shortest exact text, never float noise beyond it", () => {
    assert.equal(toDecimalString(1.23), "1.23");
    assert.equal(toDecimalString(10), "10");
    assert.equal(toDecimalString(0.1 + 0.2), "0.30000000000000004");
    assert.equal(toDecimalString(1e21), "1000000000000000000000");
    assert.equal(toDecimalString(5e-7), "0.0000005");
  });

  it("normalizes decimal strings: no exponent, no leading or trailing zeros", () => {
    assert.equal(toDecimalString("12.30"), "12.3");
    assert.equal(toDecimalString("0012.00"), "12");
    assert.equal(toDecimalString(".5"), "0.5");
    assert.equal(toDecimalString("1.5e2"), "150");
    assert.equal(toDecimalString("-0.000"), "0");
    assert.equal(normalizeDecimal("-2.50"), "-2.5");
  });

  it("refuses what is not an amount", () => {
    for (const bad of [
      "",
      "abc",
      "1.2.3",
      "1e",
      Number.NaN,
      Number.POSITIVE_INFINITY,
      null,
      undefined,
      {},
      true,
    ]) {
      assert.throws(() => toDecimalString(bad), TypeError, `accepted ${String(bad)}`);
    }
  });
});
