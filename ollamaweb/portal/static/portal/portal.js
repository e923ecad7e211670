// ollamaweb portal: copy buttons and confirmations. No dependencies, no build step.
"use strict";

(function () {
  // The browser's time zone, for pages rendered by the server (see ollamaweb/portal/zones.py).
  // On the very first visit the page was rendered before the server knew it: reload once.
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    var had = /(?:^|;\s*)ollamaweb_tz=([^;]*)/.exec(document.cookie);
    if (zone && /^[A-Za-z0-9_+\-\/]+$/.test(zone) && (!had || had[1] !== zone)) {
      document.cookie = "ollamaweb_tz=" + zone + "; path=/; max-age=31536000; SameSite=Lax";
      var shown = document.querySelector('meta[name="time-zone"]');
      if (!had && shown && shown.content !== zone && document.querySelector("time") && !sessionStorage.getItem("ollamaweb.tz-reload")) {
        sessionStorage.setItem("ollamaweb.tz-reload", "1");
        location.reload();
      }
    }
  } catch (err) { /* no Intl or no cookies: server time, labelled */ }

  function announce(button, text) {
    var original = button.dataset.label || button.textContent;
    button.dataset.label = original;
    button.textContent = text;
    setTimeout(function () { button.textContent = original; }, 1800);
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // http:// on a LAN address is no secure context: fall back to a selection + execCommand.
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.appendChild(area);
      area.select();
      try { document.execCommand("copy") ? resolve() : reject(new Error("copy failed")); }
      catch (err) { reject(err); }
      finally { document.body.removeChild(area); }
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.querySelector(button.dataset.copy);
    if (!source) return;
    var text = "value" in source && source.tagName !== "PRE" ? source.value : source.textContent;
    copyText(text).then(
      function () { announce(button, "Copied!"); },
      function () {
        if (source.select) source.select();
        announce(button, "Press Ctrl+C");
      }
    );
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  });

  window.ollamaweb = { copyText: copyText };
})();
