// A small, safe Markdown renderer for the Playground's replies. No dependencies, no build step.
//
// Safe by construction: it never parses HTML and never assigns innerHTML. Every piece of text
// becomes a text node, and the only elements it makes are the fixed set below. Links keep only
// http(s) and mailto addresses. Supported: fenced code blocks (an unclosed fence, as while a
// reply streams, runs to the end), inline code, headings, bold, italic, strikethrough, links,
// bulleted and numbered lists, block quotes, horizontal rules, paragraphs and line breaks.
"use strict";

(function () {
  var INLINE = [
    { kind: "code", re: /(`+)([\s\S]*?[^`])\1(?!`)/ },
    { kind: "link", re: /\[([^\]\n]+)\]\(((?:https?:\/\/|mailto:)[^\s()<>]+)\)/ },
    { kind: "strong", re: /\*\*(?=\S)([\s\S]*?\S)\*\*|__(?=\S)([\s\S]*?\S)__/ },
    { kind: "del", re: /~~(?=\S)([\s\S]*?\S)~~/ },
    { kind: "em", re: /\*(?=[^\s*])([^*\n]*?[^\s*])\*|(?:^|(?<=[\s(]))_(?=\S)([^_\n]*?\S)_(?![A-Za-z0-9])/ },
  ];

  function el(tag, parent, text) {
    var node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }

  function inline(text, parent) {
    while (text) {
      var best = null;
      for (var i = 0; i < INLINE.length; i++) {
        var match = INLINE[i].re.exec(text);
        if (match && (best === null || match.index < best.match.index)) best = { kind: INLINE[i].kind, match: match };
      }
      if (!best) { parent.appendChild(document.createTextNode(text)); return; }
      var m = best.match;
      if (m.index > 0) parent.appendChild(document.createTextNode(text.slice(0, m.index)));
      if (best.kind === "code") {
        el("code", parent, m[2].replace(/^ (.*) $/, "$1"));
      } else if (best.kind === "link") {
        var link = el("a", parent);
        link.href = m[2];
        link.rel = "noopener noreferrer nofollow";
        link.target = "_blank";
        inline(m[1], link);
      } else {
        inline(m[1] !== undefined ? m[1] : m[2], el(best.kind, parent));
      }
      text = text.slice(m.index + m[0].length);
    }
  }

  function lines(text, parent) {
    var parts = text.split("\n");
    for (var i = 0; i < parts.length; i++) {
      if (i) el("br", parent);
      inline(parts[i], parent);
    }
  }

  function codeBlock(language, body, parent) {
    var wrap = el("div", parent);
    wrap.className = "md-code";
    var pre = el("pre", wrap);
    var code = el("code", pre, body);
    if (language) {
      code.className = "language-" + language.replace(/[^A-Za-z0-9_+-]/g, "");
      var label = el("span", wrap, language);
      label.className = "md-lang";
    }
    var copy = el("button", wrap, "Copy");
    copy.type = "button";
    copy.className = "button small md-copy";
    copy.addEventListener("click", function () {
      var done = function (text) { copy.textContent = text; setTimeout(function () { copy.textContent = "Copy"; }, 1500); };
      (window.ollamaweb && window.ollamaweb.copyText ? window.ollamaweb.copyText(body) : Promise.reject())
        .then(function () { done("Copied!"); }, function () { done("Press Ctrl+C"); });
    });
  }

  var BULLET = /^\s{0,3}[-*+]\s+(.*)$/;
  var NUMBER = /^\s{0,3}(\d{1,9})[.)]\s+(.*)$/;

  function blocks(source, parent) {
    var all = source.replace(/\r\n?/g, "\n").split("\n");
    var i = 0;
    while (i < all.length) {
      var line = all[i];
      var fence = /^\s{0,3}(`{3,}|~{3,})\s*([^`\s]*)/.exec(line);
      if (fence) {
        var body = [];
        i++;
        while (i < all.length && !new RegExp("^\\s{0,3}" + fence[1][0] + "{" + fence[1].length + ",}\\s*$").test(all[i])) {
          body.push(all[i]);
          i++;
        }
        i++; // the closing fence (or the end)
        codeBlock(fence[2], body.join("\n"), parent);
        continue;
      }
      if (!line.trim()) { i++; continue; }
      var heading = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line);
      if (heading) {
        inline(heading[2], el("h" + Math.min(6, heading[1].length + 2), parent));
        i++;
        continue;
      }
      if (/^\s{0,3}([-*_])(\s*\1){2,}\s*$/.test(line)) { el("hr", parent); i++; continue; }
      if (/^\s{0,3}>/.test(line)) {
        var quoted = [];
        while (i < all.length && /^\s{0,3}>/.test(all[i])) { quoted.push(all[i].replace(/^\s{0,3}>\s?/, "")); i++; }
        blocks(quoted.join("\n"), el("blockquote", parent));
        continue;
      }
      if (BULLET.test(line) || NUMBER.test(line)) {
        var ordered = !BULLET.test(line);
        var list = el(ordered ? "ol" : "ul", parent);
        if (ordered && NUMBER.exec(line)[1] !== "1") list.start = parseInt(NUMBER.exec(line)[1], 10);
        var item = null;
        while (i < all.length) {
          var current = all[i];
          var hit = ordered ? NUMBER.exec(current) : BULLET.exec(current);
          if (hit) {
            item = el("li", list);
            inline(ordered ? hit[2] : hit[1], item);
          } else if (current.trim() && /^\s+\S/.test(current) && item) {
            el("br", item);
            inline(current.trim(), item);
          } else {
            break;
          }
          i++;
        }
        continue;
      }
      var paragraph = [];
      while (i < all.length && all[i].trim() && !/^\s{0,3}(`{3,}|~{3,}|#{1,6}\s|>)/.test(all[i]) &&
             !(paragraph.length && (BULLET.test(all[i]) || NUMBER.test(all[i])))) {
        paragraph.push(all[i]);
        i++;
      }
      lines(paragraph.join("\n"), el("p", parent));
    }
  }

  function renderMarkdown(text, container) {
    var fragment = document.createDocumentFragment();
    blocks(text || "", fragment);
    container.replaceChildren(fragment);
  }

  window.ollamaweb = window.ollamaweb || {};
  window.ollamaweb.renderMarkdown = renderMarkdown;
})();
