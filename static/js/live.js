// Gatehouse live updates over /ws/events/ (docs/messaging.md, "Dashboard contract").
// No inline scripts: pages opt in with data attributes and <script src=".../live.js" defer>.
//
//   [data-live-indicator]            connection state: data-live-state="connecting|live|offline|signed-out|suspended"
//                                    (one is added to the top bar when the page has none)
//   [data-live-stream]               a <ul>/<ol> the visible events are prepended to
//       data-live-limit="20"         how many items to keep
//       data-live-types="scan.,policy."  only these type prefixes (default: all)
//       data-live-scan-filter="<id>" only events about this scan
//       data-live-refresh="<url>"    JSON {"results": [CloudEvent...]} refetched after a reconnect
//   [data-live-scan="<scan id>"]     subscribes to that scan's progress; inside it (or on it):
//       [data-live-progress]         <progress>, .progress > span, or role="progressbar": set to the percent
//       [data-live-progress-text]    text "42%"
//       [data-live-stage]            text of the current stage
//       [data-live-status]           text of the status; a .badge also gets badge-<status>
//       data-live-refresh="<url>"    JSON with `status` and `progress`/`percent`, refetched after a reconnect
//       data-live-reload-on-final    reload the page when the scan completes or fails
//   [data-live-feed="<name>"]        a list that integrator feed messages are prepended to
//
// Every message is also dispatched as a `gatehouse:live` CustomEvent on document
// (detail = the message); state changes as `gatehouse:live-state` (detail = {state}).
(function () {
  "use strict";
  if (window.GatehouseLive) { return; }

  var FINAL = { completed: true, failed: true, cancelled: true };
  var STATUS_BY_TYPE = {
    "scan.queued": "queued", "scan.started": "running", "scan.progress": "running",
    "scan.completed": "completed", "scan.failed": "failed", "scan.cancelled": "cancelled"
  };
  var socket = null;
  var state = "connecting";
  var attempts = 0;
  var everConnected = false;
  var pingTimer = null;
  var reconnectTimer = null;
  var stopped = false;

  function all(selector, root) {
    return Array.prototype.slice.call((root || document).querySelectorAll(selector));
  }

  function within(container, selector) {
    var found = all(selector, container);
    if (container.matches && container.matches(selector)) { found.unshift(container); }
    return found;
  }

  function emit(name, detail) {
    document.dispatchEvent(new CustomEvent(name, { detail: detail }));
  }

  // --- connection indicator -----------------------------------------------------------
  var LABELS = {
    connecting: "Connecting…", live: "Live", offline: "Reconnecting…",
    "signed-out": "Signed out", suspended: "Suspended"
  };

  function ensureIndicator() {
    if (document.querySelector("[data-live-indicator]")) { return; }
    var bar = document.querySelector(".topbar-right");
    if (!bar) { return; }
    var span = document.createElement("span");
    span.setAttribute("data-live-indicator", "");
    bar.insertBefore(span, bar.firstChild);
  }

  function setState(next) {
    state = next;
    all("[data-live-indicator]").forEach(function (el) {
      el.setAttribute("data-live-state", next);
      el.setAttribute("role", "status");
      el.setAttribute("title", "Live updates: " + LABELS[next]);
      el.textContent = "";
      var dot = document.createElement("span");
      dot.className = "live-dot" + (next === "live" ? " on" : (next === "connecting" ? "" : " off"));
      dot.setAttribute("aria-hidden", "true");
      el.appendChild(dot);
      el.appendChild(document.createTextNode(LABELS[next]));
    });
    emit("gatehouse:live-state", { state: next });
  }

  // --- rendering ------------------------------------------------------------------------
  function badgeClass(type) {
    var status = STATUS_BY_TYPE[type];
    if (status) { return "badge-" + status; }
    if (type.indexOf("policy.blocked") === 0) { return "badge-block"; }
    if (type.indexOf("waiver.approved") === 0) { return "badge-approved"; }
    return "badge-info";
  }

  function eventItem(event) {
    var li = document.createElement("li");
    li.setAttribute("data-live-event-id", event.id || "");
    var badge = document.createElement("span");
    badge.className = "badge " + badgeClass(event.type || "");
    badge.textContent = event.type || "event";
    var subject = document.createElement("code");
    var text = String(event.subject || "");
    subject.textContent = text.length > 40 ? text.slice(0, 39) + "…" : text;
    var time = document.createElement("time");
    time.className = "muted";
    time.setAttribute("datetime", event.time || "");
    time.textContent = String(event.time || "").slice(11, 19);
    li.appendChild(badge);
    li.appendChild(document.createTextNode(" "));
    li.appendChild(subject);
    li.appendChild(document.createTextNode(" "));
    li.appendChild(time);
    return li;
  }

  function streamAccepts(list, event) {
    var types = (list.getAttribute("data-live-types") || "").split(",").map(function (t) { return t.trim(); })
      .filter(Boolean);
    if (types.length && !types.some(function (p) { return (event.type || "").indexOf(p) === 0; })) { return false; }
    var scan = list.getAttribute("data-live-scan-filter");
    if (scan) {
      var data = event.data || {};
      return data.scan_id === scan || event.subject === scan;
    }
    return true;
  }

  function prepend(list, item) {
    all("[data-live-empty]", list).forEach(function (el) { el.remove(); });
    list.insertBefore(item, list.firstChild);
    var limit = parseInt(list.getAttribute("data-live-limit") || "20", 10);
    while (list.children.length > limit) { list.removeChild(list.lastChild); }
  }

  function addToStreams(event) {
    all("[data-live-stream]").forEach(function (list) {
      if (!streamAccepts(list, event)) { return; }
      if (event.id && list.querySelector('[data-live-event-id="' + CSS.escape(event.id) + '"]')) { return; }
      prepend(list, eventItem(event));
    });
  }

  function clampPercent(value) {
    var n = Number(value);
    if (!isFinite(n)) { return null; }
    if (n > 0 && n <= 1 && String(value).indexOf(".") !== -1) { n = n * 100; }
    return Math.max(0, Math.min(100, Math.round(n)));
  }

  function applyScan(container, update) {
    var percent = clampPercent(update.percent !== undefined ? update.percent : update.progress);
    if (percent !== null) {
      within(container, "[data-live-progress]").forEach(function (el) {
        if (el.tagName === "PROGRESS") {
          el.max = 100;
          el.value = percent;
        } else {
          var bar = el.querySelector("span") || el;
          bar.style.width = percent + "%";
        }
        el.setAttribute("aria-valuenow", String(percent));
      });
      within(container, "[data-live-progress-text]").forEach(function (el) { el.textContent = percent + "%"; });
    }
    if (update.stage) {
      within(container, "[data-live-stage]").forEach(function (el) { el.textContent = String(update.stage); });
    }
    if (update.status) {
      var status = String(update.status);
      within(container, "[data-live-status]").forEach(function (el) {
        el.textContent = status;
        if (el.classList.contains("badge")) {
          Array.prototype.slice.call(el.classList).forEach(function (c) {
            if (c.indexOf("badge-") === 0) { el.classList.remove(c); }
          });
          el.classList.add("badge-" + status);
        }
      });
      if (FINAL[status] && container.hasAttribute("data-live-reload-on-final") &&
          container.getAttribute("data-live-status-seen") !== status) {
        container.setAttribute("data-live-status-seen", status);
        window.location.reload();
      }
    }
  }

  function scanUpdateFromEvent(event) {
    var data = event.data || {};
    var update = { percent: data.percent, progress: data.progress, stage: data.stage || data.message };
    update.status = data.status || STATUS_BY_TYPE[event.type];
    if (event.type === "scan.completed" && update.percent === undefined) { update.percent = 100; }
    return update;
  }

  function scanContainers(scanId) {
    return all("[data-live-scan]").filter(function (el) { return el.getAttribute("data-live-scan") === scanId; });
  }

  // --- messages -------------------------------------------------------------------------
  function onMessage(message) {
    emit("gatehouse:live", message);
    if (message.type === "event" && message.event) {
      var event = message.event;
      addToStreams(event);
      var scanId = (event.data && event.data.scan_id) || (event.type.indexOf("scan.") === 0 ? event.subject : null);
      if (scanId) {
        scanContainers(String(scanId)).forEach(function (c) { applyScan(c, scanUpdateFromEvent(event)); });
      }
    } else if (message.type === "progress" && message.event) {
      scanContainers(String(message.scan)).forEach(function (c) {
        applyScan(c, scanUpdateFromEvent(message.event));
      });
    } else if (message.type === "feed") {
      all("[data-live-feed]").forEach(function (list) {
        var name = list.getAttribute("data-live-feed");
        if (name !== "*" && name !== message.feed) { return; }
        var li = document.createElement("li");
        var code = document.createElement("code");
        code.textContent = message.feed + ": " + JSON.stringify(message.payload).slice(0, 200);
        li.appendChild(code);
        prepend(list, li);
      });
    } else if (message.type === "welcome") {
      setState("live");
      subscribeAll();
      if (everConnected) { refetch(); }
      everConnected = true;
    }
  }

  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) { socket.send(JSON.stringify(message)); }
  }

  function subscribeAll() {
    var seen = {};
    all("[data-live-scan]").forEach(function (el) {
      var id = el.getAttribute("data-live-scan");
      if (id && !seen["s:" + id]) { seen["s:" + id] = true; send({ type: "subscribe", scan: id }); }
    });
    all("[data-live-feed]").forEach(function (el) {
      var name = el.getAttribute("data-live-feed");
      if (name && !seen["f:" + name]) { seen["f:" + name] = true; send({ type: "subscribe", feed: name }); }
    });
  }

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .catch(function () { return null; });
  }

  // After a reconnect, events may have been missed: reload what the page shows.
  function refetch() {
    all("[data-live-stream][data-live-refresh]").forEach(function (list) {
      getJSON(list.getAttribute("data-live-refresh")).then(function (body) {
        if (!body || !Array.isArray(body.results)) { return; }
        var events = body.results.filter(function (e) { return streamAccepts(list, e); });
        while (list.firstChild) { list.removeChild(list.firstChild); }
        events.slice().reverse().forEach(function (e) { prepend(list, eventItem(e)); });
      });
    });
    all("[data-live-scan][data-live-refresh]").forEach(function (container) {
      getJSON(container.getAttribute("data-live-refresh")).then(function (body) {
        if (body) { applyScan(container, body); }
      });
    });
    emit("gatehouse:live-refetch", {});
  }

  // --- the socket -------------------------------------------------------------------------
  function url() {
    return (window.location.protocol === "https:" ? "wss://" : "ws://") + window.location.host + "/ws/events/";
  }

  function scheduleReconnect() {
    if (stopped) { return; }
    attempts += 1;
    var delay = Math.min(30000, 1000 * Math.pow(2, Math.min(attempts - 1, 5)));
    delay = delay * (0.8 + Math.random() * 0.4);
    reconnectTimer = window.setTimeout(connect, delay);
  }

  function connect() {
    window.clearTimeout(reconnectTimer);
    if (state !== "live") { setState(everConnected ? "offline" : "connecting"); }
    try {
      socket = new WebSocket(url());
    } catch (err) {
      scheduleReconnect();
      return;
    }
    socket.addEventListener("open", function () { attempts = 0; });
    socket.addEventListener("message", function (e) {
      var message;
      try { message = JSON.parse(e.data); } catch (err) { return; }
      if (message && typeof message === "object") { onMessage(message); }
    });
    socket.addEventListener("close", function (e) {
      window.clearInterval(pingTimer);
      socket = null;
      if (e.code === 4401) {
        // Signed out (or the session ended): try again slowly, in case the user signs in elsewhere.
        setState("signed-out");
        attempts = Math.max(attempts, 5);
      } else if (e.code === 4403) {
        setState("suspended");
        stopped = true;
        return;
      } else {
        setState("offline");
      }
      scheduleReconnect();
    });
    window.clearInterval(pingTimer);
    pingTimer = window.setInterval(function () { send({ type: "ping" }); }, 25000);
  }

  function start() {
    ensureIndicator();
    setState("connecting");
    connect();
    // A tab coming back to the foreground reconnects at once rather than waiting out the backoff.
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible" && !socket && !stopped) { connect(); }
    });
  }

  window.GatehouseLive = {
    state: function () { return state; },
    subscribeScan: function (id) { send({ type: "subscribe", scan: String(id) }); },
    subscribeFeed: function (name) { send({ type: "subscribe", feed: String(name) }); },
    refetch: refetch
  };

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
