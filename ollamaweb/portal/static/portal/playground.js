// The Playground: streams /v1/chat/completions with a Playground API key kept in sessionStorage.
// See ollamaweb/portal/playground_keys.py for why the key is handled this way.
"use strict";

(function () {
  var root = document.getElementById("playground");
  if (!root) return;
  var api = root.dataset.api;
  var keyUrl = root.dataset.keyUrl;
  var storageKey = "ollamaweb.playground.key." + root.dataset.user;
  var csrf = document.querySelector('meta[name="csrf-token"]').content;

  var form = document.getElementById("pg-form");
  var input = document.getElementById("pg-input");
  var transcript = document.getElementById("pg-transcript");
  var sendButton = document.getElementById("pg-send");
  var stopButton = document.getElementById("pg-stop");
  var usageLine = document.getElementById("pg-usage");
  var keyStatus = document.getElementById("pg-key-status");
  var model = document.getElementById("pg-model");
  var system = document.getElementById("pg-system");
  var temperature = document.getElementById("pg-temperature");
  var temperatureOut = document.getElementById("pg-temperature-out");
  var maxTokens = document.getElementById("pg-max-tokens");

  var history = [];
  var controller = null;

  temperature.addEventListener("input", function () { temperatureOut.value = temperature.value; });
  temperatureOut.value = temperature.value;

  function storedKey() {
    try {
      var saved = JSON.parse(sessionStorage.getItem(storageKey) || "null");
      if (saved && saved.secret && (!saved.expires_at || Date.parse(saved.expires_at) > Date.now() + 60000)) {
        // The server says which Playground key is live; a different (revoked) one is useless.
        if (!root.dataset.livePrefix || saved.prefix === root.dataset.livePrefix) return saved;
      }
    } catch (err) { /* fall through */ }
    sessionStorage.removeItem(storageKey);
    return null;
  }

  function newKey() {
    return fetch(keyUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrf, "Accept": "application/json" },
    }).then(function (response) {
      if (!response.ok) throw new Error("could not get a Playground key (HTTP " + response.status + ")");
      return response.json();
    }).then(function (key) {
      sessionStorage.setItem(storageKey, JSON.stringify(key));
      root.dataset.livePrefix = key.prefix;
      keyStatus.textContent = "Using Playground key " + key.prefix + "… (kept in this tab only).";
      return key;
    });
  }

  function getKey() {
    var saved = storedKey();
    return saved ? Promise.resolve(saved) : newKey();
  }

  function clearEmpty() {
    var empty = transcript.querySelector(".empty-chat");
    if (empty) empty.remove();
  }

  function addMessage(role, text) {
    clearEmpty();
    var item = document.createElement("li");
    item.className = "msg-" + role;
    var label = document.createElement("span");
    label.className = "role";
    label.textContent = role === "user" ? "You" : role === "assistant" ? model.value : "Error";
    var content = document.createElement(role === "assistant" ? "div" : "span");
    content.className = role === "assistant" ? "content md" : "content";
    if (role === "assistant") render(content, text || "");
    else content.textContent = text || "";
    item.appendChild(label);
    item.appendChild(content);
    transcript.appendChild(item);
    transcript.scrollTop = transcript.scrollHeight;
    return item;
  }

  // Replies are Markdown, rendered by markdown.js (DOM nodes only, never innerHTML); while a reply
  // streams it is re-rendered at most once per animation frame.
  function render(content, text) {
    content.dataset.markdown = text;
    if (window.ollamaweb && window.ollamaweb.renderMarkdown) window.ollamaweb.renderMarkdown(text, content);
    else content.textContent = text;
  }

  var pending = null;
  function renderSoon(content, text) {
    content.dataset.markdown = text;
    if (pending) return;
    pending = requestAnimationFrame(function () {
      pending = null;
      render(content, content.dataset.markdown);
      transcript.scrollTop = transcript.scrollHeight;
    });
  }

  function setBusy(busy) {
    sendButton.disabled = busy;
    stopButton.hidden = !busy;
    input.setAttribute("aria-busy", busy ? "true" : "false");
  }

  function body() {
    var messages = [];
    if (system.value.trim()) messages.push({ role: "system", content: system.value.trim() });
    return {
      model: model.value,
      messages: messages.concat(history),
      stream: true,
      stream_options: { include_usage: true },
      temperature: parseFloat(temperature.value),
      max_tokens: parseInt(maxTokens.value, 10) || undefined,
    };
  }

  function post(key, signal) {
    return fetch(api, {
      method: "POST",
      headers: { "Authorization": "Bearer " + key.secret, "Content-Type": "application/json" },
      body: JSON.stringify(body()),
      signal: signal,
    });
  }

  function errorMessage(response) {
    return response.text().then(function (text) {
      var error = null;
      try { error = JSON.parse(text).error; } catch (err) { /* not JSON */ }
      var failure = new Error("HTTP " + response.status + ": " + (error && error.message ? error.message : text || response.statusText));
      failure.code = error && (error.code || error.type);
      failure.status = response.status;
      return failure;
    });
  }

  // What to do about a token-quota refusal. The gateway already shrinks a reply's budget to what
  // is left, so a refusal means the prompt (the whole conversation) no longer fits, or says the
  // largest max_tokens that would.
  function quotaHint(err) {
    if (err.status !== 429 || (err.code !== "insufficient_quota" && !/token quota/i.test(err.message))) return "";
    var fit = /at most (\d+) completion tokens/.exec(err.message);
    if (fit) {
      return "Lower Max tokens to " + fit[1] + " or less (now " + (parseInt(maxTokens.value, 10) || "unset") +
        "): each request reserves its prompt plus Max tokens against your token quota.";
    }
    if (/shorten|prompt needs/i.test(err.message)) {
      return "The conversation no longer fits in what is left of your token quota: every message so far is " +
        "sent again with each request. Start a New chat (or a shorter system prompt), or wait until the quota resets.";
    }
    return "Try a lower Max tokens (now " + (parseInt(maxTokens.value, 10) || "unset") + "): each request " +
      "reserves its prompt plus Max tokens against your token quota before the model runs.";
  }


  async function readStream(response, item) {
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    var content = item.querySelector(".content");
    var text = "";
    var usage = null;
    for (;;) {
      var chunk = await reader.read();
      if (chunk.done) break;
      buffer += decoder.decode(chunk.value, { stream: true });
      var events = buffer.split(/\r?\n\r?\n/);
      buffer = events.pop();
      for (var i = 0; i < events.length; i++) {
        var lines = events[i].split(/\r?\n/);
        for (var j = 0; j < lines.length; j++) {
          var line = lines[j];
          if (line.indexOf("data:") !== 0) continue;
          var data = line.slice(5).trim();
          if (data === "[DONE]") continue;
          var event = JSON.parse(data);
          if (event.error) throw new Error(event.error.message || "stream error");
          if (event.usage) usage = event.usage;
          var choice = event.choices && event.choices[0];
          var delta = choice && choice.delta && choice.delta.content;
          if (delta) {
            text += delta;
            renderSoon(content, text);
          }
        }
      }
    }
    if (pending) { cancelAnimationFrame(pending); pending = null; }
    render(content, text);
    return { text: text, usage: usage };
  }

  async function send(prompt) {
    history.push({ role: "user", content: prompt });
    addMessage("user", prompt);
    var item = addMessage("assistant", "");
    item.classList.add("streaming");
    item.setAttribute("aria-busy", "true");
    controller = new AbortController();
    setBusy(true);
    usageLine.textContent = "";
    var started = performance.now();
    try {
      var key = await getKey();
      var response = await post(key, controller.signal);
      if (response.status === 401) {
        // Revoked (e.g. a sign-out elsewhere) or expired: get a fresh key once.
        sessionStorage.removeItem(storageKey);
        key = await newKey();
        response = await post(key, controller.signal);
      }
      if (!response.ok) throw await errorMessage(response);
      var result = await readStream(response, item);
      history.push({ role: "assistant", content: result.text });
      maxTokens.removeAttribute("aria-invalid");
      var seconds = ((performance.now() - started) / 1000).toFixed(1);
      usageLine.textContent = result.usage
        ? result.usage.prompt_tokens + " prompt + " + result.usage.completion_tokens + " completion tokens · " + seconds + " s"
        : seconds + " s";
    } catch (err) {
      if (err.name === "AbortError") {
        usageLine.textContent = "Stopped.";
        var partialContent = item.querySelector(".content");
        var partial = partialContent.dataset.markdown || "";
        if (pending) { cancelAnimationFrame(pending); pending = null; }
        render(partialContent, partial);
        if (partial) history.push({ role: "assistant", content: partial });
      } else {
        history.pop();
        var shown = addMessage("error", err.message || String(err));
        var hint = quotaHint(err);
        if (hint) {
          var hintLine = document.createElement("span");
          hintLine.className = "pg-hint";
          hintLine.textContent = hint;
          shown.appendChild(hintLine);
          if (/Max tokens/.test(hint)) maxTokens.setAttribute("aria-invalid", "true");
        }
        if (!item.querySelector(".content").textContent) item.remove();
      }
    } finally {
      item.classList.remove("streaming");
      item.removeAttribute("aria-busy");
      controller = null;
      setBusy(false);
      input.focus();
    }
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var prompt = input.value.trim();
    if (!prompt || controller) return;
    input.value = "";
    send(prompt);
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  stopButton.addEventListener("click", function () { if (controller) controller.abort(); });
  document.getElementById("pg-clear").addEventListener("click", function () {
    if (controller) controller.abort();
    history = [];
    transcript.innerHTML = "";
    var empty = document.createElement("li");
    empty.className = "empty-chat muted";
    empty.textContent = "New chat. Send a message to start.";
    transcript.appendChild(empty);
    usageLine.textContent = "";
    input.focus();
  });
  if (storedKey()) keyStatus.textContent = "Using Playground key " + storedKey().prefix + "… (kept in this tab only).";
})();
