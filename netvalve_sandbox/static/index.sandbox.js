/* NetValve sandbox Token Fields SDK: the surface of NetValve's SDK (window.Netvalve, the <netvalve-tokenfields>
   element, the same events and callbacks), with each card field in its own iframe on the sandbox's origin, so
   the merchant's page never sees the card. The frames tokenize their field at the sandbox. */
(function () {
  "use strict";

  var script = document.currentScript;
  var source = new URL(script && script.src ? script.src : window.location.href);
  var sdkOrigin = source.origin;
  var paymentToken = source.searchParams.get("paymentToken") || "";
  var jwtToken = source.searchParams.get("jwtToken") || "";
  var FIELDS = ["cardNumber", "cardCvv", "cardExpiry"];
  var TAGS = { cardNumber: "netvalve-cardnumber", cardCvv: "netvalve-cvv", cardExpiry: "netvalve-expiry" };
  var TOKENIZE_TIMEOUT_MS = 15000;

  var state = {
    config: null,
    form: null,
    frames: {},
    initiated: {},
    valid: {},
    tokenized: {},
    tokenizing: false,
    pending: null,
  };

  function detail(type, extra) {
    return Object.assign(
      { type: type, fieldName: "allFields", success: true, message: "", paymentToken: paymentToken },
      extra
    );
  }

  function emit(type, extra) {
    var payload = detail(type, extra);
    window.dispatchEvent(new CustomEvent(type, { detail: payload }));
    if (type === "field-validation" && state.config && typeof state.config.onValidate === "function") {
      state.config.onValidate(payload);
    }
    return payload;
  }

  function allFieldsTokenized() {
    return FIELDS.every(function (name) {
      return state.tokenized[name] === true;
    });
  }

  function styleQuery(config, fieldConfig) {
    return JSON.stringify({
      input: Object.assign({}, config.inputStyles || {}, (fieldConfig && fieldConfig.inputStyles) || {}),
      invalid: config.invalidStyles || {},
      placeholder: config.placeholderStyles || {},
    });
  }

  function mount(name, container, config) {
    var fieldConfig = (config.fields || {})[name] || {};
    var frame = document.createElement("iframe");
    var query = new URLSearchParams({
      paymentToken: paymentToken,
      jwtToken: jwtToken,
      origin: window.location.origin,
      styles: styleQuery(config, fieldConfig),
    });
    frame.src = sdkOrigin + "/sdk/fields/" + name + "?" + query.toString();
    frame.title = { cardNumber: "Card number", cardCvv: "Security code", cardExpiry: "Expiry date" }[name];
    frame.name = "netvalve-" + name;
    frame.setAttribute("data-netvalve-field", name);
    frame.setAttribute("scrolling", "no");
    frame.style.border = "0";
    frame.style.width = "100%";
    frame.style.height = config.defaultIframeHeight || "46px";
    container.appendChild(frame);
    state.frames[name] = frame;
  }

  function findForm(config, fallback) {
    if (config.formId) {
      return document.getElementById(config.formId);
    }
    if (config.formSelector) {
      var found = document.querySelector(config.formSelector);
      if (found && found.tagName !== "FORM") {
        return found.querySelector("form") || found;
      }
      return found;
    }
    return fallback || null;
  }

  function addTokenInput(form) {
    if (!form || form.querySelector('input[name="paymentToken"]')) {
      return;
    }
    var hidden = document.createElement("input");
    hidden.type = "hidden";
    hidden.name = "paymentToken";
    hidden.value = paymentToken;
    form.appendChild(hidden);
  }

  function submitHandler(event) {
    event.preventDefault();
    if (state.tokenizing) {
      return;
    }
    tokenizeFields().then(function (token) {
      if (!token) {
        return;
      }
      if (typeof state.config.onSubmitPayment === "function") {
        state.config.onSubmitPayment(token);
      } else if (state.form && typeof state.form.submit === "function") {
        state.form.submit();
      }
    });
  }

  function initTokenFields(config, defaults) {
    if (state.config) {
      throw new Error("NetValve token fields are already initialized on this page.");
    }
    config = config || {};
    defaults = defaults || {};
    state.config = config;
    state.form = findForm(config, defaults.form);
    FIELDS.forEach(function (name) {
      var selector = ((config.fields || {})[name] || {}).containerSelector;
      var container = selector ? document.querySelector(selector) : (defaults.containers || {})[name];
      if (!container) {
        throw new Error("NetValve token fields: no container for " + name + ".");
      }
      mount(name, container, config);
    });
    if (config.interceptFormSubmit !== false) {
      if (state.form) {
        state.form.addEventListener("submit", submitHandler);
      }
      var button = config.payButtonId ? document.getElementById(config.payButtonId) : null;
      if (button && button.form !== state.form) {
        button.addEventListener("click", submitHandler);
      }
    }
    return window.Netvalve;
  }

  function settle(success, message) {
    var pending = state.pending;
    state.pending = null;
    state.tokenizing = false;
    clearTimeout(pending.timer);
    if (success) {
      addTokenInput(state.form);
    }
    emit("all-fields-tokenized", { success: success, message: message });
    pending.resolve(success ? paymentToken : null);
  }

  function tokenizeFields() {
    if (!state.config) {
      return Promise.resolve(null);
    }
    if (state.pending) {
      return state.pending.promise;
    }
    var pending = { results: {} };
    pending.promise = new Promise(function (resolve) {
      pending.resolve = resolve;
    });
    pending.timer = setTimeout(function () {
      settle(false, "Tokenization timed out.");
    }, TOKENIZE_TIMEOUT_MS);
    state.pending = pending;
    state.tokenizing = true;
    FIELDS.forEach(function (name) {
      state.frames[name].contentWindow.postMessage({ source: "netvalve-sdk", type: "tokenize" }, sdkOrigin);
    });
    return pending.promise;
  }

  function frameName(win) {
    for (var i = 0; i < FIELDS.length; i += 1) {
      var frame = state.frames[FIELDS[i]];
      if (frame && frame.contentWindow === win) {
        return FIELDS[i];
      }
    }
    return null;
  }

  window.addEventListener("message", function (event) {
    var data = event.data;
    if (event.origin !== sdkOrigin || !data || data.source !== "netvalve-field") {
      return;
    }
    var name = frameName(event.source);
    if (!name || name !== data.fieldName) {
      return;
    }
    var extra = { fieldName: name, success: data.success === true, message: data.message || "" };
    if (data.type === "field-initiated") {
      state.initiated[name] = true;
      emit("field-initiated", extra);
      if (FIELDS.every(function (field) { return state.initiated[field]; })) {
        emit("all-fields-ready", {});
      }
    } else if (data.type === "field-validation") {
      state.valid[name] = extra.success;
      if (!extra.success && state.tokenized[name]) {
        state.tokenized[name] = false;
        emit("all-fields-tokenized", { success: false, message: "" });
      }
      emit("field-validation", extra);
    } else if (data.type === "field-changed") {
      state.tokenized[name] = false;
    } else if (data.type === "card-type") {
      emit("card-type", { fieldName: name, typeData: data.typeData || null });
    } else if (data.type === "field-tokenization") {
      state.tokenized[name] = extra.success;
      emit("field-tokenization", extra);
      if (state.pending) {
        state.pending.results[name] = extra;
        var results = state.pending.results;
        if (FIELDS.every(function (field) { return results[field]; })) {
          var failed = FIELDS.filter(function (field) { return !results[field].success; });
          settle(failed.length === 0, failed.length ? results[failed[0]].message : "All fields tokenized.");
        }
      }
    }
  });

  window.Netvalve = {
    initTokenFields: initTokenFields,
    initFields: initTokenFields,
    tokenizeFields: tokenizeFields,
    allFieldsTokenized: allFieldsTokenized,
    isTokenizing: function () {
      return state.tokenizing;
    },
  };

  /* The HTML-only integration: <netvalve-tokenfields> around a form holding the three field elements. */
  if (window.customElements && !window.customElements.get("netvalve-tokenfields")) {
    window.customElements.define(
      "netvalve-tokenfields",
      class extends HTMLElement {
        connectedCallback() {
          var element = this;
          var containers = {};
          FIELDS.forEach(function (name) {
            containers[name] = element.querySelector(TAGS[name]);
          });
          var css = function (text) {
            var holder = document.createElement("div");
            holder.setAttribute("style", text || "");
            var out = {};
            for (var i = 0; i < holder.style.length; i += 1) {
              out[holder.style[i]] = holder.style.getPropertyValue(holder.style[i]);
            }
            return out;
          };
          var fields = {};
          FIELDS.forEach(function (name) {
            fields[name] = { inputStyles: css(containers[name] && containers[name].getAttribute("style")) };
          });
          initTokenFields(
            {
              formId: element.getAttribute("formId") || undefined,
              payButtonId: element.getAttribute("submitButtonId") || undefined,
              interceptFormSubmit: element.getAttribute("interceptFormSubmit") !== "false",
              inputStyles: css(element.getAttribute("style")),
              invalidStyles: css(element.getAttribute("invalidStyles")),
              fields: fields,
            },
            { form: element.querySelector("form"), containers: containers }
          );
        }

        tokenizeFields() {
          return tokenizeFields();
        }

        allFieldsTokenized() {
          return allFieldsTokenized();
        }

        isTokenizing() {
          return state.tokenizing;
        }
      }
    );
  }

  window.dispatchEvent(new CustomEvent("netvalve-sdk-ready", { detail: detail("netvalve-sdk-ready", {}) }));
})();
