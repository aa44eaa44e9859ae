/* The triage HTML report's only script: copy buttons, and sorting and filtering of the sweep table.
   Reads values from DOM text and data attributes only (textContent, never innerHTML), loads nothing. */
(function () {
  "use strict";

  function fallbackCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "offscreen";
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); } catch (e) { /* nothing more we can do */ }
    document.body.removeChild(area);
  }

  function flash(button) {
    var label = button.textContent;
    button.textContent = document.body.getAttribute("data-copied") || "OK";
    window.setTimeout(function () { button.textContent = label; }, 1200);
  }

  function setupCopy() {
    var buttons = document.querySelectorAll("button.copy");
    Array.prototype.forEach.call(buttons, function (button) {
      button.addEventListener("click", function () {
        var holder = button.closest(".ioc");
        var code = holder ? holder.querySelector("code") : null;
        if (!code) { return; }
        var text = code.textContent;
        if (navigator.clipboard && navigator.clipboard.writeText) {
          navigator.clipboard.writeText(text).then(function () { flash(button); }, function () {
            fallbackCopy(text);
            flash(button);
          });
        } else {
          fallbackCopy(text);
          flash(button);
        }
      });
    });
  }

  function cellKey(row, index, type) {
    var cell = row.cells[index];
    if (!cell) { return type === "num" ? -Infinity : ""; }
    var raw = cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent;
    if (type === "num") {
      var value = parseFloat(raw);
      return isNaN(value) ? -Infinity : value;
    }
    return raw.toLowerCase();
  }

  function setupTable(table) {
    var body = table.tBodies[0];
    var headers = table.tHead ? table.tHead.rows[0].cells : [];
    Array.prototype.forEach.call(headers, function (th, index) {
      var button = th.querySelector("button");
      if (!button) { return; }
      button.addEventListener("click", function () {
        var type = th.getAttribute("data-type") || "text";
        var descending = th.getAttribute("aria-sort") !== "descending";
        if (!th.hasAttribute("aria-sort")) { descending = type === "num"; }
        Array.prototype.forEach.call(headers, function (other) { other.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", descending ? "descending" : "ascending");
        var rows = Array.prototype.slice.call(body.rows);
        var keyed = rows.map(function (row, position) {
          return { row: row, key: cellKey(row, index, type), position: position };
        });
        keyed.sort(function (a, b) {
          var order = 0;
          if (type === "num") { order = a.key - b.key; } else { order = a.key.localeCompare(b.key); }
          if (descending) { order = -order; }
          return order || a.position - b.position;
        });
        var fragment = document.createDocumentFragment();
        keyed.forEach(function (item) { fragment.appendChild(item.row); });
        body.appendChild(fragment);
      });
    });

    var search = document.getElementById("filter");
    var verdict = document.getElementById("verdict-filter");
    var counter = document.getElementById("shown-count");
    var texts = Array.prototype.map.call(body.rows, function (row) {
      return { row: row, text: row.textContent.toLowerCase() };
    });
    function apply() {
      var query = search ? search.value.trim().toLowerCase() : "";
      var level = verdict ? verdict.value : "";
      var shown = 0;
      texts.forEach(function (item) {
        var ok = (!query || item.text.indexOf(query) !== -1) &&
          (!level || item.row.getAttribute("data-verdict") === level);
        item.row.hidden = !ok;
        if (ok) { shown += 1; }
      });
      if (counter) {
        var template = counter.getAttribute("data-template") || "{shown} / {total}";
        counter.textContent = template.replace("{shown}", String(shown)).replace("{total}", String(texts.length));
      }
    }
    if (search) { search.addEventListener("input", apply); }
    if (verdict) { verdict.addEventListener("change", apply); }
    apply();
  }

  function start() {
    setupCopy();
    var table = document.getElementById("messages");
    if (table) { setupTable(table); }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
