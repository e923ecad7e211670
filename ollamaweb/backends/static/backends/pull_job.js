// ollamaweb admin: live progress of a pull batch. Listens to the server-sent events of the
// batch (the server polls the PullJob rows, whichever process runs the pull); falls back to
// polling the status JSON when EventSource is unavailable or keeps failing.
(function () {
  "use strict";
  var root = document.getElementById("ow-pull");
  var live = document.getElementById("ow-live");
  if (!root) return;

  function text(el, value) { if (el) el.textContent = value; }

  // The zone the rest of the admin shows (the user's, see ollamaweb/portal/zones.py), labelled.
  var zoneMeta = document.querySelector('meta[name="time-zone"]');
  var zone = zoneMeta && zoneMeta.content;

  function when(iso) {
    if (!iso) return "–";
    var date = new Date(iso);
    if (isNaN(date.getTime())) return iso;
    try {
      return date.toLocaleString("en-GB", zone ? { timeZone: zone, timeZoneName: "short" } : { timeZoneName: "short" });
    } catch (err) {
      return date.toLocaleString();
    }
  }

  function stamp(el, iso) {
    if (!el) return;
    el.setAttribute("datetime", iso || "");
    el.textContent = when(iso);
  }

  function render(jobs) {
    jobs.forEach(function (job) {
      var box = root.querySelector('[data-job="' + job.id + '"]');
      if (!box) return;
      box.setAttribute("data-status", job.status);
      var badge = box.querySelector("h2 .ow-badge");
      if (badge) { badge.className = "ow-badge ow-" + job.status; badge.textContent = job.status; }
      text(box.querySelector(".ow-message"), job.message || "waiting to start");
      var percent = job.percent === null || job.percent === undefined ? null : job.percent;
      box.querySelector(".ow-fill").style.width = (percent || 0) + "%";
      text(box.querySelector(".ow-percent"), percent === null ? "–" : percent.toFixed(1) + "%");
      var body = box.querySelector(".ow-layers tbody");
      body.textContent = "";
      if (!job.layers.length) {
        var empty = document.createElement("tr");
        var cell = document.createElement("td");
        cell.colSpan = 3; cell.textContent = "No layer yet."; empty.appendChild(cell); body.appendChild(empty);
      }
      job.layers.forEach(function (layer) {
        var row = document.createElement("tr");
        [layer.id, Math.floor(layer.percent) + "%", layer.sizes].forEach(function (value, i) {
          var td = document.createElement("td");
          if (i === 0) { var code = document.createElement("code"); code.textContent = value; td.appendChild(code); }
          else td.textContent = value;
          row.appendChild(td);
        });
        body.appendChild(row);
      });
      var error = box.querySelector(".ow-job-error");
      error.hidden = !job.error;
      text(error, job.error || "");
      stamp(box.querySelector(".ow-started"), job.started_at);
      stamp(box.querySelector(".ow-updated"), job.updated_at);
      var finishedAt = box.querySelector(".ow-finished-at");
      finishedAt.hidden = !job.finished_at;
      stamp(finishedAt.querySelector("time"), job.finished_at);
    });
  }

  function finished(jobs) {
    var failed = jobs.filter(function (j) { return j.status !== "success"; }).length;
    text(live, failed ? "Finished: " + failed + " of " + jobs.length + " did not succeed."
                      : "Finished: the model is ready.");
  }

  function poll() {
    fetch(root.getAttribute("data-status"), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        render(data.jobs);
        if (data.jobs.every(function (j) { return j.finished; })) finished(data.jobs);
        else setTimeout(poll, 1000);
      })
      .catch(function () { setTimeout(poll, 3000); });
  }

  root.querySelectorAll("time").forEach(function (el) { if (el.getAttribute("datetime")) stamp(el, el.getAttribute("datetime")); });

  if (!window.EventSource) { poll(); return; }
  var failures = 0;
  var source = new EventSource(root.getAttribute("data-events"));
  var last = null;
  source.addEventListener("progress", function (event) {
    failures = 0;
    last = JSON.parse(event.data).jobs;
    render(last);
  });
  source.addEventListener("done", function () {
    source.close();
    if (last) finished(last);
  });
  source.onerror = function () {
    failures += 1;
    if (failures >= 3) { source.close(); text(live, "Live updates interrupted; polling…"); poll(); }
  };
})();
