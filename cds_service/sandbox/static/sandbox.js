/*
 * The card sandbox: pick a fixture, edit the patient, call the REAL service endpoint
 * (POST /cds-services/{id}) and render the cards as an EHR does.
 *
 * All text from fixtures and responses goes into the page through textContent or the
 * Markdown renderer (which builds Text nodes); innerHTML is never used.
 */
(function () {
  "use strict";

  var INDICATORS = {
    critical: { label: "Critical", mark: "!" },
    warning: { label: "Warning", mark: "!" },
    info: { label: "Info", mark: "i" },
  };
  var RANK = { info: 0, warning: 1, critical: 2 };
  var STATUS_TEXT = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    412: "Precondition Failed",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    500: "Internal Server Error",
    503: "Service Unavailable",
  };
  var EXPLAIN = {
    400: "The service rejected the request as malformed.",
    401: "The service requires a JWT from a trusted client: paste one under Connection.",
    404: "No such service (or card) on this server.",
    412: "Required data was neither prefetched nor fetchable (no fhirServer).",
    413: "The request body is too large.",
    415: "The request must be sent as application/json.",
    500: "The service failed; see its logs.",
  };

  var state = {
    fixtures: [],
    services: [],
    vocabulary: { measurements: [], symptoms: [], medicines: [] },
    base: null, // the request the form's edits apply to (fixture or updated raw JSON)
    request: null, // base + edits, as shown in the JSON editor
    keyValues: null,
    rawEdited: false,
    composing: null,
    composeTimer: null,
    feedback: [],
    lastService: null,
  };

  function $(id) {
    return document.getElementById(id);
  }

  // h("div", {class: "x", text: "y", onclick: fn, "aria-label": "z"}, child, "text")
  function h(tag, attrs) {
    var node = document.createElement(tag);
    var props = attrs || {};
    Object.keys(props).forEach(function (key) {
      var value = props[key];
      if (value === undefined || value === null || value === false) return;
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else if (key.indexOf("on") === 0) node.addEventListener(key.slice(2), value);
      else if (key in node && key !== "list" && key.indexOf("aria-") !== 0 && key.indexOf("data-") !== 0)
        node[key] = value;
      else node.setAttribute(key, value === true ? "" : String(value));
    });
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined || child === false) continue;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function uuid() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(bytes, function (b) {
      return (b + 0x100).toString(16).slice(1);
    }).join("");
    return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join("-");
  }

  function pretty(value) {
    return JSON.stringify(value, null, 2);
  }

  async function api(method, url, body, extraHeaders) {
    var headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    Object.assign(headers, extraHeaders || {});
    var started = performance.now();
    var response = await fetch(url, {
      method: method,
      headers: headers,
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
      credentials: "same-origin",
    });
    var text = await response.text();
    var json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch (e) {
      json = null;
    }
    return { status: response.status, ok: response.ok, json: json, text: text, ms: performance.now() - started };
  }

  function authHeaders() {
    var token = $("token").value.trim();
    return token ? { Authorization: "Bearer " + token } : {};
  }

  function outcomeMessage(result) {
    var issue = result.json && result.json.issue && result.json.issue[0];
    if (!issue) return result.text ? result.text.slice(0, 300) : "";
    var where = issue.expression && issue.expression.length ? " (field: " + issue.expression.join(", ") + ")" : "";
    return (issue.diagnostics || issue.code || "") + where;
  }

  // ------------------------------------------------------------------ pickers and form

  function serviceKey(service) {
    return service.id + "|" + service.hook;
  }

  function selectedService() {
    var value = $("service").value.split("|");
    return { id: value[0], hook: value[1] };
  }

  function fillPickers() {
    var fixture = $("fixture");
    clear(fixture);
    var groups = {};
    state.fixtures.forEach(function (f) {
      var label = f.hook || f.service;
      if (!groups[label]) {
        groups[label] = h("optgroup", { label: label });
        fixture.appendChild(groups[label]);
      }
      var mark = f.worst ? "[" + f.worst + "] " : "";
      groups[label].appendChild(h("option", { value: f.id, text: mark + f.id }));
    });
    var service = $("service");
    clear(service);
    state.services.forEach(function (s) {
      service.appendChild(h("option", { value: serviceKey(s), text: s.id + " · " + s.hook }));
    });
  }

  function options(select, items, selected, placeholder) {
    if (placeholder) select.appendChild(h("option", { value: "", text: placeholder }));
    items.forEach(function (item) {
      var value = typeof item === "string" ? item : item.value;
      var label = typeof item === "string" ? item : item.label;
      select.appendChild(h("option", { value: value, text: label, selected: value === selected }));
    });
    if (selected && select.value !== selected) {
      select.appendChild(h("option", { value: selected, text: selected, selected: true }));
    }
    return select;
  }

  var rowSeq = 0;

  function removeButton(label, row) {
    return h("button", {
      type: "button",
      class: "icon-button",
      "aria-label": "Remove " + label,
      title: "Remove",
      text: "×",
      onclick: function () {
        row.remove();
        formChanged();
      },
    });
  }

  function measurementRow(m) {
    var id = "m" + ++rowSeq;
    var analyte = state.vocabulary.measurements.find(function (a) {
      return a.name === m.analyte;
    });
    var units = analyte ? analyte.units : [m.unit];
    var row = h("div", { class: "row-item measurement", "data-ref": m.ref || "" });
    var nameSelect = options(
      h("select", { id: id + "-name", "data-field": "analyte", onchange: onAnalyteChange }),
      state.vocabulary.measurements.map(function (a) {
        return { value: a.name, label: a.label + " (" + a.name + ")" };
      }),
      m.analyte
    );
    var unitSelect = options(h("select", { id: id + "-unit", "data-field": "unit" }), units, m.unit);
    row.appendChild(h("label", { for: id + "-name", class: "visually-hidden", text: "Measurement" }));
    row.appendChild(nameSelect);
    row.appendChild(h("label", { for: id + "-value", class: "visually-hidden", text: "Value" }));
    row.appendChild(
      h("input", { id: id + "-value", "data-field": "value", type: "number", step: "any", value: m.value, class: "num" })
    );
    row.appendChild(h("label", { for: id + "-unit", class: "visually-hidden", text: "Unit" }));
    row.appendChild(unitSelect);
    row.appendChild(removeButton(analyte ? analyte.label : m.analyte, row));
    return row;
  }

  function onAnalyteChange(event) {
    var row = event.target.closest(".row-item");
    var analyte = state.vocabulary.measurements.find(function (a) {
      return a.name === event.target.value;
    });
    var unit = row.querySelector('[data-field="unit"]');
    clear(unit);
    options(unit, analyte ? analyte.units : [], analyte ? analyte.units[0] : "");
  }

  function symptomRow(s) {
    var id = "s" + ++rowSeq;
    var row = h("div", { class: "row-item symptom", "data-ref": s.ref || "", "data-condition": s.asCondition ? "1" : "" });
    var name = options(
      h("select", { id: id + "-name", "data-field": "name" }),
      state.vocabulary.symptoms.map(function (f) {
        return { value: f.name, label: f.label };
      }),
      s.name
    );
    var side = options(
      h("select", { id: id + "-side", "data-field": "laterality" }),
      [
        { value: "left", label: "left" },
        { value: "right", label: "right" },
        { value: "bilateral", label: "both" },
      ],
      s.laterality || "",
      "any side"
    );
    row.appendChild(h("label", { for: id + "-name", class: "visually-hidden", text: "Symptom" }));
    row.appendChild(name);
    row.appendChild(h("label", { for: id + "-side", class: "visually-hidden", text: "Side" }));
    row.appendChild(side);
    if (s.asCondition) row.appendChild(h("span", { class: "tag", text: "condition" }));
    row.appendChild(removeButton(s.name, row));
    return row;
  }

  function draftRow(name) {
    var id = "d" + ++rowSeq;
    var row = h("div", { class: "row-item draft" });
    row.appendChild(h("label", { for: id, class: "visually-hidden", text: "Draft medication order" }));
    row.appendChild(options(h("select", { id: id, "data-field": "name" }), state.vocabulary.medicines, name));
    row.appendChild(removeButton(name, row));
    return row;
  }

  function renderForm(kv) {
    $("ga").value = kv.gestationalAge || "";
    $("postpartum").value = kv.postpartumDays === null || kv.postpartumDays === undefined ? "" : kv.postpartumDays;
    $("bp").value = kv.bloodPressure || "";
    $("bp").dataset.ref = kv.bloodPressureRef || "";
    var measurements = $("measurements");
    clear(measurements);
    (kv.measurements || []).forEach(function (m) {
      measurements.appendChild(measurementRow(m));
    });
    var symptoms = $("symptoms");
    clear(symptoms);
    (kv.symptoms || []).forEach(function (s) {
      symptoms.appendChild(symptomRow(s));
    });
    var drafts = $("drafts");
    clear(drafts);
    (kv.draftOrders || []).forEach(function (d) {
      drafts.appendChild(draftRow(d));
    });
    var hook = selectedService().hook;
    $("drafts-fieldset").hidden = !(hook === "order-select" || hook === "order-sign");
  }

  function readForm() {
    var postpartum = $("postpartum").value.trim();
    var kv = {
      gestationalAge: $("ga").value.trim() || null,
      postpartumDays: postpartum === "" ? null : parseInt(postpartum, 10),
      bloodPressure: $("bp").value.trim() || null,
      bloodPressureRef: $("bp").dataset.ref || null,
      measurements: [],
      symptoms: [],
      draftOrders: [],
    };
    document.querySelectorAll("#measurements .row-item").forEach(function (row) {
      var value = row.querySelector('[data-field="value"]').value;
      if (value === "") return;
      kv.measurements.push({
        ref: row.dataset.ref || null,
        analyte: row.querySelector('[data-field="analyte"]').value,
        value: Number(value),
        unit: row.querySelector('[data-field="unit"]').value,
      });
    });
    document.querySelectorAll("#symptoms .row-item").forEach(function (row) {
      kv.symptoms.push({
        ref: row.dataset.ref || null,
        name: row.querySelector('[data-field="name"]').value,
        laterality: row.querySelector('[data-field="laterality"]').value || null,
        asCondition: row.dataset.condition === "1",
      });
    });
    document.querySelectorAll("#drafts .row-item").forEach(function (row) {
      kv.draftOrders.push(row.querySelector('[data-field="name"]').value);
    });
    return kv;
  }

  function showWarnings(list) {
    var box = $("warnings");
    clear(box);
    (list || []).forEach(function (text) {
      box.appendChild(h("p", { class: "warning-line", text: text }));
    });
  }

  function setRequest(request) {
    state.request = request;
    $("raw").value = pretty(request);
    state.rawEdited = false;
    $("raw-details").classList.remove("edited");
  }

  async function compose(keyValues) {
    var service = selectedService();
    var payload = { request: state.base, service: service.id, hook: service.hook };
    if (keyValues) payload.keyValues = keyValues;
    var result = await api("POST", "/sandbox/compose", payload);
    if (!result.ok) {
      showWarnings(["The form could not be applied: " + outcomeMessage(result)]);
      return false;
    }
    setRequest(result.json.request);
    showWarnings(result.json.warnings);
    return result.json;
  }

  function formChanged() {
    if (state.rawEdited) return;
    window.clearTimeout(state.composeTimer);
    state.composeTimer = window.setTimeout(function () {
      state.composing = compose(readForm()).finally(function () {
        state.composing = null;
      });
    }, 250);
  }

  async function flushCompose() {
    if (state.composeTimer) {
      window.clearTimeout(state.composeTimer);
      state.composeTimer = null;
      if (!state.rawEdited) await compose(readForm());
    }
    if (state.composing) await state.composing;
  }

  // ----------------------------------------------------------------------- fixtures

  async function loadFixture(id) {
    var result = await api("GET", "/sandbox/fixtures/" + encodeURIComponent(id));
    if (!result.ok) {
      showError(result, "Could not load fixture " + id);
      return;
    }
    var data = result.json;
    var key = data.service + "|" + data.hook;
    if (
      state.services.some(function (s) {
        return serviceKey(s) === key;
      })
    ) {
      $("service").value = key;
    }
    state.base = data.request;
    state.keyValues = data.keyValues;
    setRequest(data.request);
    renderForm(data.keyValues);
    showWarnings([]);
    $("fixture-description").textContent = data.description || "";
    var expected = (data.expect.cards || []).map(function (c) {
      return c.rule + (c.indicator ? " " + c.indicator : "");
    });
    var line = $("fixture-expected");
    line.hidden = false;
    line.textContent = expected.length ? "Expected: " + expected.join(", ") : "Expected: no clinical card";
    updateEndpoint();
    if (window.history && window.history.replaceState) window.history.replaceState(null, "", "#" + encodeURIComponent(id));
  }

  function updateEndpoint() {
    $("endpoint").textContent = "POST /cds-services/" + selectedService().id;
  }

  // -------------------------------------------------------------------------- cards

  function codingText(coding) {
    var system = coding.system || "";
    var name = /loinc/.test(system) ? "LOINC" : /snomed/.test(system) ? "SNOMED CT" : /rxnorm/.test(system) ? "RxNorm" : system;
    return name + " " + coding.code + (coding.display ? " · " + coding.display : "");
  }

  function actionLines(action) {
    var resource = action.resource || {};
    var out = [];
    if (action.type === "delete") {
      out.push("Remove " + (action.resourceId || "the draft order"));
    } else {
      var codings = (resource.code && resource.code.coding) || [];
      var med = resource.medicationCodeableConcept && resource.medicationCodeableConcept.coding;
      var what = (resource.resourceType || "resource") + (resource.status ? " (" + resource.status + ")" : "");
      if (!codings.length && med) codings = med;
      if (!codings.length) out.push(action.type + " " + what);
      codings.forEach(function (c) {
        out.push(codingText(c));
      });
    }
    return out;
  }

  function renderCard(card, index, serviceId) {
    var indicator = INDICATORS[card.indicator] ? card.indicator : "info";
    var meta = INDICATORS[indicator];
    var headingId = "card-" + index + "-summary";
    var article = h("article", { class: "card card-" + indicator, "aria-labelledby": headingId, "data-indicator": indicator });
    var topic = card.source && card.source.topic;
    article.appendChild(
      h(
        "div",
        { class: "card-head" },
        h("span", { class: "badge badge-" + indicator }, h("span", { class: "badge-mark", "aria-hidden": "true", text: meta.mark }), meta.label),
        topic && topic.code ? h("span", { class: "rule", title: topic.display || "", text: topic.code + (topic.display ? " · " + topic.display : "") }) : null
      )
    );
    article.appendChild(h("h3", { id: headingId, class: "summary", text: card.summary || "" }));
    if (card.detail) {
      var detail = h("div", { class: "detail" });
      detail.appendChild(window.SandboxMarkdown.render(card.detail));
      article.appendChild(detail);
    }
    if (card.source) {
      var source = h("p", { class: "source" }, h("span", { class: "muted", text: "Source: " }));
      if (card.source.url && /^https?:\/\//i.test(card.source.url)) {
        source.appendChild(h("a", { href: card.source.url, target: "_blank", rel: "noopener noreferrer", text: card.source.label }));
      } else {
        source.appendChild(document.createTextNode(card.source.label || ""));
      }
      article.appendChild(source);
    }
    var chosen = [];
    if (card.suggestions && card.suggestions.length) {
      var single = card.selectionBehavior === "at-most-one";
      var group = h("div", { class: "suggestions", role: "group", "aria-label": "Suggestions for: " + card.summary });
      group.appendChild(h("p", { class: "muted small", text: single ? "Suggestions (choose at most one)" : "Suggestions (choose any)" }));
      card.suggestions.forEach(function (suggestion) {
        var lines = [];
        (suggestion.actions || []).forEach(function (action) {
          lines = lines.concat(actionLines(action));
        });
        var button = h(
          "button",
          { type: "button", class: "suggestion", "aria-pressed": "false" },
          h("span", { class: "suggestion-label", text: suggestion.label }),
          suggestion.isRecommended ? h("span", { class: "tag tag-recommended", text: "recommended" }) : null,
          lines.length
            ? h.apply(null, ["span", { class: "suggestion-codes" }].concat(lines.map(function (l) {
                return h("span", { class: "code-line", text: l });
              })))
            : null
        );
        button.addEventListener("click", function () {
          var pressed = button.getAttribute("aria-pressed") === "true";
          if (single && !pressed) {
            group.querySelectorAll(".suggestion").forEach(function (b) {
              b.setAttribute("aria-pressed", "false");
            });
            chosen.length = 0;
          }
          button.setAttribute("aria-pressed", pressed ? "false" : "true");
          var at = chosen.indexOf(suggestion);
          if (pressed && at >= 0) chosen.splice(at, 1);
          if (!pressed) chosen.push(suggestion);
          accept.disabled = chosen.length === 0;
        });
        group.appendChild(button);
      });
      var accept = h("button", {
        type: "button",
        class: "primary small-button",
        disabled: true,
        text: "Accept selected",
        onclick: function () {
          recordFeedback(serviceId, card, {
            outcome: "accepted",
            acceptedSuggestions: chosen.map(function (s) {
              return { id: s.uuid };
            }),
          });
          article.classList.add("accepted");
          setOutcome(article, "Accepted: " + chosen.map(function (s) { return s.label; }).join("; "));
        },
      });
      group.appendChild(h("div", { class: "accept-row" }, accept));
      article.appendChild(group);
    }
    if (card.links && card.links.length) {
      var links = h("div", { class: "links", role: "group", "aria-label": "Links" }, h("span", { class: "muted", text: "Links:" }));
      card.links.forEach(function (l) {
        var item = h("span");
        if (/^https?:\/\//i.test(l.url)) item.appendChild(h("a", { href: l.url, target: "_blank", rel: "noopener noreferrer", text: l.label }));
        else item.appendChild(document.createTextNode(l.label));
        if (l.type === "smart") item.appendChild(h("span", { class: "tag", text: "SMART app" }));
        links.appendChild(item);
      });
      article.appendChild(links);
    }
    var reasons = card.overrideReasons || [];
    var overrideId = "card-" + index + "-override";
    var select = h("select", { id: overrideId });
    options(
      select,
      reasons.map(function (r, i) {
        return { value: String(i), label: r.display || r.code };
      }),
      "",
      reasons.length ? "Choose a reason…" : "No reasons offered"
    );
    article.appendChild(
      h(
        "div",
        { class: "override" },
        h("label", { for: overrideId, text: "Override reason" }),
        select,
        h("button", {
          type: "button",
          class: "secondary small-button",
          text: "Dismiss card",
          onclick: function () {
            var reason = select.value === "" ? null : reasons[Number(select.value)];
            var item = { outcome: "overridden" };
            if (reason) item.overrideReason = { reason: { system: reason.system, code: reason.code, display: reason.display } };
            recordFeedback(serviceId, card, item);
            article.classList.add("dismissed");
            setOutcome(article, "Dismissed" + (reason ? ": " + (reason.display || reason.code) : ""));
          },
        })
      )
    );
    return article;
  }

  function setOutcome(article, text) {
    var line = article.querySelector(".outcome");
    if (!line) {
      line = h("p", { class: "outcome", role: "status" });
      article.appendChild(line);
    }
    line.textContent = text;
  }

  function recordFeedback(serviceId, card, item) {
    if (!card.uuid) return;
    item.card = card.uuid;
    item.outcomeTimestamp = new Date().toISOString();
    state.feedback = state.feedback.filter(function (f) {
      return f.card !== card.uuid;
    });
    state.feedback.push(item);
    state.lastService = serviceId;
    $("feedback-details").hidden = false;
    $("feedback").textContent = pretty({ feedback: state.feedback });
    $("feedback-status").textContent = "";
  }

  async function sendFeedback() {
    if (!state.feedback.length || !state.lastService) return;
    var url = "/cds-services/" + encodeURIComponent(state.lastService) + "/feedback";
    var result;
    try {
      result = await api("POST", url, { feedback: state.feedback }, authHeaders());
    } catch (e) {
      $("feedback-status").textContent = "Could not reach the feedback endpoint.";
      return;
    }
    $("feedback-status").textContent =
      "POST " + url + " → " + result.status + " " + (STATUS_TEXT[result.status] || "") + (result.ok ? "" : ": " + outcomeMessage(result));
  }

  function showError(result, prefix) {
    var box = $("error");
    clear(box);
    box.hidden = false;
    var status = result && result.status ? result.status + " " + (STATUS_TEXT[result.status] || "") : "";
    box.appendChild(h("p", { class: "error-title", text: prefix + (status ? " · " + status : "") }));
    if (result && EXPLAIN[result.status]) box.appendChild(h("p", { text: EXPLAIN[result.status] }));
    var message = result ? outcomeMessage(result) : "";
    if (message) box.appendChild(h("p", { class: "error-detail", text: message }));
  }

  function renderResponse(result, serviceId) {
    var cards = $("cards");
    clear(cards);
    $("error").hidden = true;
    state.feedback = [];
    $("feedback-details").hidden = true;
    $("response").textContent = result.json ? pretty(result.json) : result.text;
    var statusLine = result.status + " " + (STATUS_TEXT[result.status] || "") + " · " + Math.round(result.ms) + " ms";
    var status = $("status");
    status.className = "status " + (result.ok ? "status-ok" : "status-error");
    if (!result.ok) {
      status.textContent = statusLine;
      showError(result, "The service answered with an error");
      return;
    }
    var list = (result.json && result.json.cards) || [];
    var worst = list.reduce(function (acc, c) {
      return RANK[c.indicator] > RANK[acc] ? c.indicator : acc;
    }, "info");
    status.textContent = statusLine + " · " + list.length + (list.length === 1 ? " card" : " cards") + (list.length ? " · most urgent: " + worst : "");
    if (!list.length) {
      cards.appendChild(h("p", { class: "empty", text: "No cards: the service has no advice for this patient." }));
    }
    list.forEach(function (card, index) {
      cards.appendChild(renderCard(card, index, serviceId));
    });
    if (result.json && result.json.systemActions && result.json.systemActions.length) {
      cards.appendChild(h("p", { class: "muted", text: result.json.systemActions.length + " system action(s): see the raw response." }));
    }
  }

  // ---------------------------------------------------------------------------- run

  async function run() {
    var button = $("run");
    button.disabled = true;
    button.textContent = "Running…";
    try {
      await flushCompose();
      var body;
      try {
        body = JSON.parse($("raw").value);
      } catch (e) {
        showError(null, "The request JSON is not valid JSON: " + e.message);
        $("raw-details").open = true;
        return;
      }
      if (body && typeof body === "object" && !Array.isArray(body)) {
        body.hookInstance = uuid(); // a new hook instance per call, as an EHR does
        $("raw").value = pretty(body);
        if (!state.rawEdited) state.request = body;
      }
      var serviceId = selectedService().id;
      var result;
      try {
        result = await api("POST", "/cds-services/" + encodeURIComponent(serviceId), JSON.stringify(body), authHeaders());
      } catch (e) {
        $("status").textContent = "No response";
        showError(null, "Could not reach the service: " + e.message);
        return;
      }
      renderResponse(result, serviceId);
    } finally {
      button.disabled = false;
      button.textContent = "Run hook";
    }
  }

  // --------------------------------------------------------------------------- wiring

  async function init() {
    var result = await api("GET", "/sandbox/fixtures");
    if (!result.ok) {
      showError(result, "Could not load the sandbox data");
      return;
    }
    state.fixtures = result.json.fixtures;
    state.services = result.json.services;
    state.vocabulary = result.json.vocabulary;
    if (result.json.problems && result.json.problems.length) showWarnings(result.json.problems);
    fillPickers();
    $("fixture").addEventListener("change", function () {
      loadFixture($("fixture").value);
    });
    $("service").addEventListener("change", async function () {
      updateEndpoint();
      if (!state.base) return;
      var hook = selectedService().hook;
      $("drafts-fieldset").hidden = !(hook === "order-select" || hook === "order-sign");
      var composed = await compose(state.rawEdited ? null : readForm());
      if (composed) {
        state.base = composed.request;
        renderForm(composed.keyValues);
      }
    });
    $("patient-form").addEventListener("change", formChanged);
    $("patient-form").addEventListener("input", function (event) {
      if (event.target.tagName === "INPUT") formChanged();
    });
    $("patient-form").addEventListener("submit", function (event) {
      event.preventDefault();
    });
    $("add-measurement").addEventListener("click", function () {
      var first = state.vocabulary.measurements[0];
      var row = measurementRow({ analyte: first.name, value: "", unit: first.units[0] });
      $("measurements").appendChild(row);
      row.querySelector("select").focus();
    });
    $("add-symptom").addEventListener("click", function () {
      var row = symptomRow({ name: state.vocabulary.symptoms[0].name });
      $("symptoms").appendChild(row);
      row.querySelector("select").focus();
      formChanged();
    });
    $("add-draft").addEventListener("click", function () {
      var row = draftRow(state.vocabulary.medicines[0]);
      $("drafts").appendChild(row);
      row.querySelector("select").focus();
      formChanged();
    });
    $("raw").addEventListener("input", function () {
      state.rawEdited = true;
      $("raw-details").classList.add("edited");
      $("patient-form").classList.add("paused");
    });
    $("reload-form").addEventListener("click", async function () {
      var parsed;
      try {
        parsed = JSON.parse($("raw").value);
      } catch (e) {
        showWarnings(["The request JSON is not valid JSON: " + e.message]);
        return;
      }
      state.base = parsed;
      state.rawEdited = false;
      $("patient-form").classList.remove("paused");
      var composed = await compose(null);
      if (composed) {
        state.base = composed.request;
        renderForm(composed.keyValues);
      }
    });
    $("run").addEventListener("click", run);
    $("send-feedback").addEventListener("click", sendFeedback);
    var wanted = decodeURIComponent(window.location.hash.replace(/^#/, ""));
    var start = state.fixtures.find(function (f) {
      return f.id === wanted;
    }) || state.fixtures[0];
    if (start) {
      $("fixture").value = start.id;
      await loadFixture(start.id);
    } else {
      $("fixture-description").textContent = "No fixtures found: create one with `cds-service fixtures new`.";
    }
    document.body.dataset.ready = "true";
  }

  document.addEventListener("DOMContentLoaded", function () {
    init().catch(function (e) {
      showError(null, "The sandbox failed to start: " + e.message);
    });
  });
})();
