/*
 * A tiny, safe Markdown renderer for card detail (CDS Hooks: detail is GitHub Flavored
 * Markdown). Supports headings, paragraphs, line breaks, bold, italics, inline and fenced
 * code, bullet and numbered lists, simple pipe tables, block quotes, rules and links.
 *
 * Safety: the renderer builds DOM nodes; every piece of card text becomes a Text node
 * (textContent), which the browser never parses as HTML, so raw HTML in a card is shown
 * literally ("escaped first", by construction). innerHTML is never used. Links keep only
 * http(s) and mailto URLs; anything else (javascript:, data:) is rendered as plain text.
 */
(function () {
  "use strict";

  var SAFE_URL = /^(https?:\/\/|mailto:)/i;
  var INLINE = new RegExp(
    [
      "(`+)([\\s\\S]*?[^`])\\1(?!`)", // 1,2 inline code
      "\\[([^\\]\\n]+)\\]\\(\\s*([^)\\s]+)(?:\\s+\"[^\"]*\")?\\s*\\)", // 3,4 link
      "\\*\\*(?=\\S)([\\s\\S]*?\\S)\\*\\*", // 5 bold
      "__(?=\\S)([\\s\\S]*?\\S)__", // 6 bold
      "\\*(?=[^\\s*])([^*]*?[^\\s*])\\*", // 7 italics
      "(?:^|(?<=[^A-Za-z0-9_]))_(?=[^\\s_])([^_]*?[^\\s_])_(?![A-Za-z0-9_])", // 8 italics
      "<(https?:\\/\\/[^\\s>]+)>", // 9 autolink
      "(https?:\\/\\/[^\\s<>()]*[^\\s<>().,;:!?'\"])", // 10 bare URL
    ].join("|"),
    "g"
  );

  function el(tag, text) {
    var node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function link(parent, label, url, renderLabel) {
    if (!SAFE_URL.test(url.trim())) {
      parent.appendChild(document.createTextNode(label));
      return;
    }
    var a = el("a");
    a.href = url.trim();
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    if (renderLabel) inline(a, label);
    else a.textContent = label;
    parent.appendChild(a);
  }

  function inline(parent, text) {
    var re = new RegExp(INLINE.source, "g");
    var last = 0;
    var match;
    while ((match = re.exec(text)) !== null) {
      if (match[0] === "") {
        re.lastIndex += 1;
        continue;
      }
      if (match.index > last) parent.appendChild(document.createTextNode(text.slice(last, match.index)));
      if (match[1]) parent.appendChild(el("code", match[2].trim()));
      else if (match[3]) link(parent, match[3], match[4], true);
      else if (match[5] || match[6]) {
        var strong = el("strong");
        inline(strong, match[5] || match[6]);
        parent.appendChild(strong);
      } else if (match[7] || match[8]) {
        var em = el("em");
        inline(em, match[7] || match[8]);
        parent.appendChild(em);
      } else if (match[9]) link(parent, match[9], match[9], false);
      else if (match[10]) link(parent, match[10], match[10], false);
      last = re.lastIndex;
    }
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
  }

  // Lines of one paragraph: a newline is kept as a visible line break (card detail is
  // often written line by line: "**Data**: ...\n**Rule**: ...").
  function lines(parent, list) {
    list.forEach(function (line, index) {
      if (index > 0) parent.appendChild(el("br"));
      inline(parent, line.replace(/\s+$/, "").replace(/\\$/, ""));
    });
  }

  var FENCE = /^\s*(```+|~~~+)\s*([\w-]*)\s*$/;
  var HEADING = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
  var ITEM = /^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$/;
  var RULE = /^\s{0,3}([-*_])(\s*\1){2,}\s*$/;
  var QUOTE = /^\s{0,3}>\s?(.*)$/;
  var TABLE_SEP = /^\s*\|?\s*:?-{1,}:?\s*(\|\s*:?-{1,}:?\s*)*\|?\s*$/;

  function cells(row) {
    var trimmed = row.trim().replace(/^\|/, "").replace(/\|$/, "");
    return trimmed.split(/(?<!\\)\|/).map(function (c) {
      return c.trim().replace(/\\\|/g, "|");
    });
  }

  function isBlockStart(line, next) {
    return (
      FENCE.test(line) ||
      HEADING.test(line) ||
      ITEM.test(line) ||
      RULE.test(line) ||
      QUOTE.test(line) ||
      (line.indexOf("|") >= 0 && next !== undefined && TABLE_SEP.test(next) && next.indexOf("-") >= 0)
    );
  }

  function blocks(parent, source) {
    var all = source.replace(/\r\n?/g, "\n").split("\n");
    var i = 0;
    while (i < all.length) {
      var line = all[i];
      var match;
      if (!line.trim()) {
        i += 1;
        continue;
      }
      if ((match = FENCE.exec(line))) {
        var fence = match[1];
        var body = [];
        i += 1;
        while (i < all.length && all[i].trim().indexOf(fence) !== 0) {
          body.push(all[i]);
          i += 1;
        }
        i += 1;
        var pre = el("pre");
        pre.appendChild(el("code", body.join("\n")));
        parent.appendChild(pre);
        continue;
      }
      if ((match = HEADING.exec(line))) {
        // Card detail sits under the card's own heading: # → h4 … ### and deeper → h6.
        var level = Math.min(6, match[1].length + 3);
        var heading = el("h" + level);
        inline(heading, match[2]);
        parent.appendChild(heading);
        i += 1;
        continue;
      }
      if (RULE.test(line)) {
        parent.appendChild(el("hr"));
        i += 1;
        continue;
      }
      if (QUOTE.test(line)) {
        var quoted = [];
        while (i < all.length && (match = QUOTE.exec(all[i]))) {
          quoted.push(match[1]);
          i += 1;
        }
        var quote = el("blockquote");
        blocks(quote, quoted.join("\n"));
        parent.appendChild(quote);
        continue;
      }
      if (line.indexOf("|") >= 0 && i + 1 < all.length && TABLE_SEP.test(all[i + 1]) && all[i + 1].indexOf("-") >= 0) {
        var table = el("table");
        var thead = el("thead");
        var headRow = el("tr");
        cells(line).forEach(function (c) {
          var th = el("th");
          th.scope = "col";
          inline(th, c);
          headRow.appendChild(th);
        });
        thead.appendChild(headRow);
        table.appendChild(thead);
        var tbody = el("tbody");
        i += 2;
        while (i < all.length && all[i].trim() && all[i].indexOf("|") >= 0) {
          var tr = el("tr");
          cells(all[i]).forEach(function (c) {
            var td = el("td");
            inline(td, c);
            tr.appendChild(td);
          });
          tbody.appendChild(tr);
          i += 1;
        }
        table.appendChild(tbody);
        var wrap = el("div");
        wrap.className = "md-table";
        wrap.appendChild(table);
        parent.appendChild(wrap);
        continue;
      }
      if ((match = ITEM.exec(line))) {
        i = list(parent, all, i);
        continue;
      }
      var para = [];
      while (i < all.length && all[i].trim() && (para.length === 0 || !isBlockStart(all[i], all[i + 1]))) {
        para.push(all[i]);
        i += 1;
      }
      var p = el("p");
      lines(p, para);
      parent.appendChild(p);
    }
  }

  // A list and its nested lists (deeper indentation), until a blank line or other block.
  function list(parent, all, start) {
    var first = ITEM.exec(all[start]);
    var indent = first[1].length;
    var ordered = /\d/.test(first[2]);
    var node = el(ordered ? "ol" : "ul");
    if (ordered && parseInt(first[2], 10) !== 1) node.start = parseInt(first[2], 10);
    var i = start;
    var item = null;
    while (i < all.length) {
      var match = ITEM.exec(all[i]);
      if (match && match[1].length > indent + 1 && item) {
        i = list(item, all, i);
        continue;
      }
      if (match && match[1].length <= indent + 1) {
        if (/\d/.test(match[2]) !== ordered) break;
        item = el("li");
        inline(item, match[3]);
        node.appendChild(item);
        i += 1;
        continue;
      }
      if (item && all[i].trim() && /^\s+/.test(all[i]) && !isBlockStart(all[i].trim(), all[i + 1])) {
        item.appendChild(el("br"));
        inline(item, all[i].trim());
        i += 1;
        continue;
      }
      break;
    }
    parent.appendChild(node);
    return i;
  }

  function render(source) {
    var fragment = document.createDocumentFragment();
    if (typeof source === "string" && source) blocks(fragment, source);
    return fragment;
  }

  window.SandboxMarkdown = { render: render };
})();
