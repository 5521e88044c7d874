/**
 * Medusa amounts as exact decimal strings for the service: never through a JavaScript float when an exact
 * value exists.
 */

const DECIMAL = /^([+-])?(\d*)(?:\.(\d*))?(?:e([+-]?\d+))?$/i;

/** A plain decimal string ("12.3", "-0.05", "1000"): no exponent, no leading or trailing zeros. */
export function normalizeDecimal(text: string): string {
  const match = DECIMAL.exec(text.trim());
  const [, sign = "", whole = "", fraction = "", exponent = "0"] = match ?? [];
  if (match === null || whole + fraction === "") {
    throw new TypeError(`Not a decimal amount: ${JSON.stringify(text)}`);
  }
  const digits = whole + fraction;
  const point = whole.length + Number.parseInt(exponent, 10);
  let integerPart: string;
  let fractionPart: string;
  if (point <= 0) {
    integerPart = "0";
    fractionPart = "0".repeat(-point) + digits;
  } else if (point >= digits.length) {
    integerPart = digits + "0".repeat(point - digits.length);
    fractionPart = "";
  } else {
    integerPart = digits.slice(0, point);
    fractionPart = digits.slice(point);
  }
  integerPart = integerPart.replace(/^0+(?=\d)/, "");
  fractionPart = fractionPart.replace(/0+$/, "");
  const plain = fractionPart ? `${integerPart}.${fractionPart}` : integerPart;
  return sign === "-" && /[1-9]/.test(plain) ? `-${plain}` : plain;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}

/**
 * The exact decimal string of any amount Medusa hands a provider: a number, a decimal string, Medusa's
 * `BigNumber` (its raw value), a bignumber.js instance, or a raw `{value, precision}` object.
 */
export function toDecimalString(amount: unknown): string {
  if (typeof amount === "string") {
    return normalizeDecimal(amount);
  }
  if (typeof amount === "number") {
    if (!Number.isFinite(amount)) {
      throw new TypeError(`Not a finite amount: ${amount}`);
    }
    // String() of a number is the shortest text that reads back as the same number: no binary noise.
    return normalizeDecimal(String(amount));
  }
  if (typeof amount === "bigint") {
    return amount.toString();
  }
  if (isRecord(amount)) {
    const raw = amount["raw"];
    if (isRecord(raw) && (typeof raw["value"] === "string" || typeof raw["value"] === "number")) {
      return toDecimalString(raw["value"]);
    }
    if ("value" in amount && (typeof amount["value"] === "string" || typeof amount["value"] === "number")) {
      return toDecimalString(amount["value"]);
    }
    if (amount["_isBigNumber"] === true && typeof amount["toFixed"] === "function") {
      // bignumber.js: toFixed() without arguments is the exact value in plain notation.
      return normalizeDecimal(String((amount["toFixed"] as () => unknown)()));
    }
    if (typeof amount["numeric"] === "number") {
      return toDecimalString(amount["numeric"]);
    }
    if (typeof amount["toJSON"] === "function") {
      return toDecimalString((amount["toJSON"] as () => unknown)());
    }
  }
  throw new TypeError(`Not an amount: ${typeof amount}`);
}
