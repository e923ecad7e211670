// The staff's live request feed over a WebSocket (reconnects with backoff).
"use strict";

(function () {
  var table = document.getElementById("feed");
  if (!table) return;
  var rows = document.getElementById("feed-rows");
  var status = document.getElementById("feed-status");
  var pauseButton = document.getElementById("feed-pause");
  var MAX_ROWS = 200;
  var paused = false;
  var queue = [];
  var delay = 1000;
  // Times in the zone the server rendered the page in (the user's), never the browser's own guess.
  var zoneMeta = document.querySelector('meta[name="time-zone"]');
  var timeFormat = new Intl.DateTimeFormat("en-GB", {
    hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
    timeZone: (zoneMeta && zoneMeta.content) || undefined,
  });

  function setStatus(text, kind) {
    status.textContent = text;
    status.className = "status " + (kind || "muted");
  }

  function fmtMs(value) {
    if (value === null || value === undefined) return "—";
    return value < 1000 ? Math.round(value) + " ms" : (value / 1000).toFixed(1) + " s";
  }

  function statusClass(code) {
    if (code >= 500 || code === 499) return "bad";
    if (code >= 400) return "warn";
    return "ok";
  }

  function cell(tr, text, className) {
    var td = document.createElement("td");
    if (className) td.className = className;
    td.textContent = text;
    tr.appendChild(td);
    return td;
  }

  function render(row) {
    var tr = document.createElement("tr");
    tr.className = "fresh";
    var when = new Date(row.created_at);
    var timeCell = cell(tr, "");
    var time = document.createElement("time");
    time.dateTime = row.created_at;
    time.textContent = timeFormat.format(when);
    timeCell.appendChild(time);
    cell(tr, row.user || (row.status === 401 ? "none (no valid key)" : "—"), row.user ? "" : "muted");
    var keyCell = cell(tr, "");
    var keyName = document.createElement("span");
    keyName.textContent = row.key_name || (row.key_prefix ? row.key_prefix + "…" : "—");
    if (row.key_prefix) keyName.title = row.key_prefix + "…";
    keyCell.appendChild(keyName);
    cell(tr, row.endpoint + (row.stream ? " (stream)" : ""));
    cell(tr, row.model || "—");
    cell(tr, row.backend || "—");
    cell(tr, ((row.prompt_tokens || 0) + (row.completion_tokens || 0)).toLocaleString(), "num");
    cell(tr, fmtMs(row.latency_ms), "num");
    var statusCell = cell(tr, "", "status-cell");
    var badge = document.createElement("span");
    badge.className = "status " + statusClass(row.status);
    badge.textContent = row.status;
    statusCell.appendChild(badge);
    if (row.error) {
      var reason = document.createElement("span");
      reason.className = "reason";
      reason.textContent = row.error.length > 200 ? row.error.slice(0, 199) + "…" : row.error;
      statusCell.appendChild(document.createTextNode(" "));
      statusCell.appendChild(reason);
    }
    return tr;
  }

  function add(list) {
    for (var i = 0; i < list.length; i++) rows.insertBefore(render(list[i]), rows.firstChild);
    while (rows.children.length > MAX_ROWS) rows.removeChild(rows.lastChild);
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + location.host + table.dataset.ws);
    socket.addEventListener("open", function () {
      delay = 1000;
      setStatus("live", "ok");
    });
    socket.addEventListener("message", function (event) {
      var message = JSON.parse(event.data);
      if (message.type !== "requests") return;
      if (paused) { queue = queue.concat(message.rows); return; }
      add(message.rows);
    });
    socket.addEventListener("close", function (event) {
      if (event.code === 4403) { setStatus("not allowed", "bad"); return; }
      setStatus("reconnecting…", "warn");
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    });
  }

  pauseButton.addEventListener("click", function () {
    paused = !paused;
    pauseButton.setAttribute("aria-pressed", paused ? "true" : "false");
    pauseButton.textContent = paused ? "Resume" : "Pause";
    if (!paused && queue.length) { add(queue); queue = []; }
  });

  connect();
})();
