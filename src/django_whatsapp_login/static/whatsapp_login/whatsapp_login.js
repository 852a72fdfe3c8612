/* django-whatsapp-login: keeps the login widget up to date and completes the login.
 *
 * Markup contract: an element with [data-whatsapp-login] and data-start-url,
 * data-status-url, data-complete-url, data-poll-interval (ms), holding a CSRF token
 * input. Without this script the widget still works through its plain forms. The link
 * page adds data-done-url: where to go once the status says "linked". With
 * data-events-url (WHATSAPP_LOGIN_LIVE on) the page listens to server-sent events instead
 * of polling, and polls again by itself as soon as that channel fails or is refused.
 */
(function () {
  "use strict";

  var MAX_DELAY = 10000;

  function init(root) {
    if (root.getAttribute("data-wl-ready")) { return; }
    root.setAttribute("data-wl-ready", "1");
    root.classList.add("wl-js");

    var interval = parseInt(root.getAttribute("data-poll-interval"), 10) || 1000;
    var statusUrl = root.getAttribute("data-status-url");
    var startUrl = root.getAttribute("data-start-url");
    var completeUrl = root.getAttribute("data-complete-url");
    var doneUrl = root.getAttribute("data-done-url");
    var eventsUrl = root.getAttribute("data-events-url");
    var tokenInput = root.querySelector("input[name=csrfmiddlewaretoken]");
    var csrfToken = tokenInput ? tokenInput.value : "";
    var qr = root.querySelector("[data-wl-qr]");
    var link = root.querySelector("[data-wl-link]");
    var message = root.querySelector("[data-wl-message]");
    var statusLine = root.querySelector("[data-wl-status]");
    var countdown = root.querySelector("[data-wl-countdown]");
    var newForm = root.querySelector("[data-wl-new-form]");
    var completeForm = root.querySelector("[data-wl-complete-form]");
    var sandboxForm = root.querySelector("[data-wl-sandbox]");
    var sandboxQuestion = root.querySelector("[data-wl-sandbox-question]");
    var sandboxAnswers = root.querySelectorAll("[data-wl-sandbox-answer]");
    var fallbackLink = root.querySelector("[data-wl-fallback]");

    var timer = null;
    var busy = false;
    var finished = false;
    var failures = 0;
    var source = null;      // the open EventSource while the push channel works
    var pushFailed = false; // once it failed (WSGI, a buffering proxy, 429/503), poll
    var deadline = Date.now() + (parseInt(root.getAttribute("data-expires-in"), 10) || 0) * 1000;

    function setState(state, text) {
      root.setAttribute("data-state", state);
      if (text) { statusLine.textContent = text; }
      var closed = state === "expired" || state === "rejected";
      if (state === "linked") { closed = false; }
      if (sandboxQuestion && state !== "awaiting_confirmation") { sandboxQuestion.hidden = true; }
      if (newForm) { newForm.hidden = !closed; }
      if (completeForm) { completeForm.hidden = true; }
    }

    function schedule(delay) {
      window.clearTimeout(timer);
      if (!finished) { timer = window.setTimeout(poll, delay); }
    }

    function request(method, url, body) {
      var headers = { "Accept": "application/json" };
      if (method === "POST") { headers["X-CSRFToken"] = csrfToken; }
      return window.fetch(url, {
        method: method, credentials: "same-origin", cache: "no-store", headers: headers, body: body
      }).then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (data) {
          return { status: response.status, data: data, retryAfter: response.headers.get("Retry-After") };
        });
      });
    }

    function closeSource() {
      if (source) { source.close(); source = null; }
    }

    // Any error of the channel (a refused answer such as 204 or 503, a dropped
    // connection) sends this page back to polling for good: polling always works.
    function fallBack() {
      closeSource();
      pushFailed = true;
      pollSoon();
    }

    function listen() {
      if (!eventsUrl || pushFailed || finished || source || !window.EventSource) { return false; }
      var opened = new window.EventSource(eventsUrl);
      source = opened;
      opened.onmessage = function (event) {
        var data = null;
        try { data = JSON.parse(event.data); } catch (error) { return; }
        handle(data);
      };
      // The stream's lifetime is over: open the next one at once.
      opened.addEventListener("reconnect", function () {
        if (source === opened) { closeSource(); listen(); }
      });
      opened.addEventListener("poll", function () { if (source === opened) { fallBack(); } });
      opened.onerror = function () { if (source === opened) { fallBack(); } };
      return true;
    }

    function backoff(result) {
      failures += 1;
      var wait = result && result.retryAfter ? parseInt(result.retryAfter, 10) * 1000 : 0;
      schedule(Math.max(wait, Math.min(MAX_DELAY, interval * Math.pow(2, failures))));
    }

    function render(data) {
      if (data.qr_svg && qr) { qr.innerHTML = data.qr_svg; }
      if (data.link && link) { link.href = data.link; }
      if (data.message && message) { message.textContent = data.message; }
      if (typeof data.expires_in === "number") { deadline = Date.now() + data.expires_in * 1000; }
    }

    function handle(data) {
      failures = 0;
      var state = data.status;
      if (state === "confirmed") {
        setState("confirmed", data.status_message);
        complete();
      } else if (state === "linked") {
        // A link attempt's code arrived: show it, then reload the page's list of ids.
        setState("linked", data.status_message);
        closeSource();
        finished = true;
        window.clearTimeout(timer);
        if (doneUrl) { window.location.assign(doneUrl); }
      } else if (state === "pending" || state === "awaiting_confirmation") {
        // awaiting_confirmation: the user was asked in WhatsApp to answer YES or NO.
        setState(state, data.status_message);
        showSandboxQuestion(data.sandbox_question);
        // Listening: the server says when it changes. Otherwise ask again later.
        if (!source && !listen()) { schedule(interval); }
      } else if (state === "expired" || state === "rejected") {
        setState(state, data.status_message);
        closeSource();
        window.clearTimeout(timer);
        if (data.fallback_url && fallbackLink) {
          // Sent from a LID nobody is linked to: offer the "enter your phone number" page.
          fallbackLink.href = data.fallback_url;
          fallbackLink.hidden = false;
        }
      } else {
        backoff(null);
      }
    }

    function showSandboxQuestion(text) {
      if (!sandboxQuestion || !text) { return; }
      sandboxQuestion.querySelector("[data-wl-sandbox-text]").textContent = text;
      sandboxQuestion.hidden = false;
    }

    var lastPoll = 0;

    // An immediate check (tab shown again, window focused), but never more than one
    // request a second per attempt: the server's limit is WHATSAPP_LOGIN_RATE_LIMIT_STATUS.
    function pollSoon() {
      var state = root.getAttribute("data-state");
      if (state === "expired" || state === "rejected") { return; }
      var wait = lastPoll + interval - Date.now();
      if (wait <= 0) { poll(); } else { schedule(wait); }
    }

    function poll() {
      if (busy || finished) { return; }
      busy = true;
      lastPoll = Date.now();
      request("GET", statusUrl).then(function (result) {
        busy = false;
        if (result.status === 200) { handle(result.data); }
        else if (result.status === 404) { restart(); }
        else { backoff(result); }
      }, function () { busy = false; backoff(null); });
    }

    function restart() {
      window.clearTimeout(timer);
      closeSource(); // it belonged to the old attempt
      request("POST", startUrl).then(function (result) {
        if (result.status === 200) { render(result.data); handle(result.data); }
        else { backoff(result); }
      }, function () { backoff(null); });
    }

    function complete() {
      if (finished) { return; }
      finished = true;
      request("POST", completeUrl).then(function (result) {
        if (result.status === 200 && result.data.redirect) {
          window.location.assign(result.data.redirect);
          return;
        }
        finished = false;
        if (result.status === 404) { restart(); } else if (result.status === 409) { handle(result.data); } else { backoff(result); }
      }, function () { finished = false; backoff(null); });
    }

    function tick() {
      if (!countdown) { return; }
      var left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
      countdown.textContent = String(left);
      var waiting = root.getAttribute("data-state");
      if (left === 0 && (waiting === "pending" || waiting === "awaiting_confirmation")) { pollSoon(); }
    }

    if (newForm) {
      newForm.addEventListener("submit", function (event) { event.preventDefault(); restart(); });
    }
    if (sandboxForm) {
      sandboxForm.addEventListener("submit", function (event) {
        event.preventDefault();
        request("POST", sandboxForm.action, new FormData(sandboxForm)).then(function (result) {
          if (result.status === 400 && result.data.message) { statusLine.textContent = result.data.message; }
          showSandboxQuestion(result.data.sandbox_question);
          pollSoon();
        });
      });
    }
    Array.prototype.forEach.call(sandboxAnswers, function (form) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        request("POST", form.action, new FormData(form)).then(function () {
          if (sandboxQuestion) { sandboxQuestion.hidden = true; }
          pollSoon();
        });
      });
    });
    // Coming back from WhatsApp on a phone: check at once instead of waiting for a
    // throttled background timer.
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible") { pollSoon(); }
    });
    window.addEventListener("pageshow", pollSoon);
    window.addEventListener("focus", pollSoon);

    setState(root.getAttribute("data-state") || "pending", "");
    window.setInterval(tick, 1000);
    var initial = root.getAttribute("data-state");
    if (initial === "expired" || initial === "rejected") { return; }
    // The stream sends the current state at once: no first poll is needed.
    if (!listen()) { poll(); }
  }

  function start() {
    var roots = document.querySelectorAll("[data-whatsapp-login]");
    for (var i = 0; i < roots.length; i += 1) { init(roots[i]); }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
