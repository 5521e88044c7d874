/* One NetValve sandbox card field, inside its own iframe: validates what the shopper types, tokenizes it at
   the sandbox when the SDK asks, and reports to the merchant page only through postMessage. */
(function () {
  "use strict";

  var body = document.body;
  var fieldName = body.getAttribute("data-field");
  var acceptedNonLuhn = JSON.parse(body.getAttribute("data-accepted-cards") || "[]");
  var params = new URLSearchParams(window.location.search);
  var parentOrigin = params.get("origin") || "";
  var paymentToken = params.get("paymentToken") || "";
  var jwtToken = params.get("jwtToken") || "";
  var styles = {};
  try {
    styles = JSON.parse(params.get("styles") || "{}");
  } catch (error) {
    styles = {};
  }
  var input = document.getElementById("field");
  var BRANDS = [
    { type: "american-express", niceType: "American Express", test: /^3[47]/, lengths: [15], code: ["CID", 4], gaps: [4, 10] },
    { type: "visa", niceType: "Visa", test: /^4/, lengths: [13, 16, 19], code: ["CVV", 3], gaps: [4, 8, 12] },
    { type: "mastercard", niceType: "Mastercard", test: /^(5[1-5]|222[1-9]|22[3-9]|2[3-6]|27[01]|2720)/, lengths: [16], code: ["CVC", 3], gaps: [4, 8, 12] },
    { type: "discover", niceType: "Discover", test: /^(6011|65|64[4-9])/, lengths: [16, 19], code: ["CID", 3], gaps: [4, 8, 12] },
    { type: "jcb", niceType: "JCB", test: /^35/, lengths: [16, 17, 18, 19], code: ["CVV", 3], gaps: [4, 8, 12] },
  ];
  var lastBrand = null;

  function applyStyles(map) {
    Object.keys(map || {}).forEach(function (name) {
      input.style.setProperty(name, map[name]);
    });
  }

  function resetStyles() {
    input.removeAttribute("style");
    applyStyles(styles.input);
  }

  function post(type, success, message, extra) {
    var data = Object.assign(
      { source: "netvalve-field", type: type, fieldName: fieldName, success: success, message: message || "" },
      extra || {}
    );
    window.parent.postMessage(data, parentOrigin);
  }

  function digits(text) {
    return text.replace(/[\s-]/g, "");
  }

  function luhn(number) {
    var sum = 0;
    for (var i = 0; i < number.length; i += 1) {
      var digit = Number(number.charAt(number.length - 1 - i));
      if (i % 2 === 1) {
        digit *= 2;
        if (digit > 9) {
          digit -= 9;
        }
      }
      sum += digit;
    }
    return sum % 10 === 0;
  }

  function brandOf(number) {
    for (var i = 0; i < BRANDS.length; i += 1) {
      if (BRANDS[i].test.test(number)) {
        return BRANDS[i];
      }
    }
    return null;
  }

  function expiryParts(text) {
    var match = /^\s*(\d{1,2})\s*\/\s*(\d{2}|\d{4})\s*$/.exec(text);
    if (!match) {
      return null;
    }
    var month = Number(match[1]);
    var year = match[2].length === 2 ? 2000 + Number(match[2]) : Number(match[2]);
    return month >= 1 && month <= 12 ? { month: month, year: year } : null;
  }

  /* The message for what is typed, or "" when it is valid. */
  function problem() {
    var value = input.value.trim();
    if (fieldName === "cardNumber") {
      var number = digits(value);
      if (!number) {
        return "Card number is required.";
      }
      if (!/^\d{12,19}$/.test(number) || !(luhn(number) || acceptedNonLuhn.indexOf(number) >= 0)) {
        return "Card number is invalid.";
      }
      return "";
    }
    if (fieldName === "cardExpiry") {
      if (!value) {
        return "Expiry date is required.";
      }
      var expiry = expiryParts(value);
      if (!expiry) {
        return "Expiry date is invalid. Use MM/YY.";
      }
      var now = new Date();
      var current = now.getFullYear() * 12 + now.getMonth() + 1;
      if (expiry.year * 12 + expiry.month < current) {
        return "Card has expired.";
      }
      return "";
    }
    if (!value) {
      return "Security code is required.";
    }
    return /^\d{3,4}$/.test(value) ? "" : "Security code is invalid.";
  }

  function validate() {
    var message = problem();
    resetStyles();
    if (message) {
      applyStyles(styles.invalid);
      input.setAttribute("aria-invalid", "true");
    } else {
      input.removeAttribute("aria-invalid");
    }
    post("field-validation", !message, message);
    return !message;
  }

  function tokenize() {
    if (!validate()) {
      post("field-tokenization", false, problem());
      return;
    }
    fetch("/sdk/fields/tokenize", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        paymentToken: paymentToken,
        jwtToken: jwtToken,
        fieldName: fieldName,
        value: input.value.trim(),
      }),
    })
      .then(function (response) {
        return response.json().then(function (answer) {
          post("field-tokenization", response.ok && answer.success === true, answer.message || "");
        });
      })
      .catch(function () {
        post("field-tokenization", false, "Could not reach NetValve to tokenize the card.");
      });
  }

  input.addEventListener("input", function () {
    post("field-changed", true, "");
    if (fieldName === "cardNumber") {
      var brand = brandOf(digits(input.value));
      var type = brand ? brand.type : null;
      if (type !== lastBrand) {
        lastBrand = type;
        post("card-type", Boolean(brand), "", {
          typeData: brand
            ? {
                type: brand.type,
                niceType: brand.niceType,
                gaps: brand.gaps,
                lengths: brand.lengths,
                code: { name: brand.code[0], size: brand.code[1] },
              }
            : null,
        });
      }
    }
  });
  input.addEventListener("blur", validate);

  window.addEventListener("message", function (event) {
    if (event.source !== window.parent || event.origin !== parentOrigin) {
      return;
    }
    if (event.data && event.data.source === "netvalve-sdk" && event.data.type === "tokenize") {
      tokenize();
    }
  });

  resetStyles();
  var placeholder = document.createElement("style");
  placeholder.textContent =
    "#field::placeholder{" +
    Object.keys(styles.placeholder || {})
      .map(function (name) {
        return name + ":" + styles.placeholder[name];
      })
      .join(";") +
    "}";
  document.head.appendChild(placeholder);
  post("field-initiated", true, "");
})();
