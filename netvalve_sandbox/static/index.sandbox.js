/* NetValve sandbox Token Fields SDK stub: same surface as the real SDK, card data goes to the sandbox. */
(function () {
  "use strict";

  var script = document.currentScript;
  var source = new URL(script && script.src ? script.src : window.location.href);
  var paymentToken = source.searchParams.get("paymentToken");
  var jwtToken = source.searchParams.get("jwtToken");
  var endpoint = source.origin + "/_sandbox/tokenize";
  var state = { config: {}, inputs: {}, tokenized: false, tokenizing: false };

  function emit(type, detail) {
    var payload = Object.assign({ type: type, paymentToken: paymentToken, success: true, message: "" }, detail);
    document.dispatchEvent(new CustomEvent(type, { detail: payload }));
    if (type === "field-validation" && typeof state.config.onValidate === "function") {
      state.config.onValidate(payload);
    }
  }

  function mount(fieldName, fieldConfig, placeholder) {
    var selector = fieldConfig && fieldConfig.containerSelector;
    var container = selector ? document.querySelector(selector) : null;
    var input = document.createElement("input");
    input.type = "text";
    input.name = "netvalve-" + fieldName;
    input.placeholder = placeholder;
    input.autocomplete = "off";
    input.setAttribute("data-netvalve-field", fieldName);
    Object.assign(input.style, state.config.inputStyles || {});
    input.addEventListener("input", function () {
      state.tokenized = false;
      emit("field-validation", { fieldName: fieldName, success: input.value.trim() !== "" });
    });
    if (container) {
      container.appendChild(input);
    }
    emit("field-initiated", { fieldName: fieldName });
    return input;
  }

  function findForm(config) {
    if (config.formId) {
      return document.getElementById(config.formId);
    }
    return config.formSelector ? document.querySelector(config.formSelector) : null;
  }

  function initTokenFields(config) {
    state.config = config || {};
    var fields = state.config.fields || {};
    state.inputs.cardNumber = mount("cardNumber", fields.cardNumber, "4012 0000 9876 5439");
    state.inputs.cardExpiry = mount("cardExpiry", fields.cardExpiry, "MM/YYYY");
    state.inputs.cardCvv = mount("cardCvv", fields.cardCvv, "CVV");
    var form = findForm(state.config);
    if (form) {
      var hidden = document.createElement("input");
      hidden.type = "hidden";
      hidden.name = "paymentToken";
      hidden.value = paymentToken;
      form.appendChild(hidden);
      if (state.config.interceptFormSubmit !== false) {
        form.addEventListener("submit", function (event) {
          event.preventDefault();
          tokenizeFields().then(function (token) {
            if (token && typeof state.config.onSubmitPayment === "function") {
              state.config.onSubmitPayment(token);
            }
          });
        });
      }
    }
    emit("all-fields-ready", {});
  }

  function value(name) {
    return state.inputs[name] ? state.inputs[name].value.trim() : "";
  }

  function tokenizeFields() {
    var expiry = value("cardExpiry").split("/");
    state.tokenizing = true;
    return fetch(endpoint, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        paymentToken: paymentToken,
        jwtToken: jwtToken,
        cardNumber: value("cardNumber").replace(/\s+/g, ""),
        expiryMonth: (expiry[0] || "").trim(),
        expiryYear: (expiry[1] || "").trim(),
        cvv: value("cardCvv"),
      }),
    })
      .then(function (response) {
        return response.json().then(function (body) {
          return { ok: response.ok, body: body };
        });
      })
      .catch(function (error) {
        return { ok: false, body: { message: String(error) } };
      })
      .then(function (result) {
        state.tokenizing = false;
        state.tokenized = result.ok;
        if (result.ok && result.body.cardType) {
          emit("card-type", { typeData: result.body.cardType });
        }
        emit("field-tokenization", { success: result.ok, message: result.body.message || "" });
        emit("all-fields-tokenized", { success: result.ok, message: result.body.message || "" });
        return result.ok ? paymentToken : null;
      });
  }

  window.Netvalve = {
    initTokenFields: initTokenFields,
    tokenizeFields: tokenizeFields,
    allFieldsTokenized: function () {
      return state.tokenized;
    },
    isTokenizing: function () {
      return state.tokenizing;
    },
  };
  emit("netvalve-sdk-ready", {});
})();
