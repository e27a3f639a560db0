// Conveniences only: every page reads and works without this script.
// The board's slider submits itself; j/k move through table rows; / focuses the as-of
// field; g then a letter opens a page; ? lists the keys; "Use my zone" fills the zone.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|SELECT|TEXTAREA)$/.test(target.tagName));
  }

  function shownAt(seconds) {
    var zone = document.body.dataset.tz || "UTC";
    try {
      return new Intl.DateTimeFormat("en-CA", {
        timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit",
        hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short"
      }).format(new Date(seconds * 1000)).replace(",", "");
    } catch (e) {
      return new Date(seconds * 1000).toISOString().slice(0, 16).replace("T", " ") + " UTC";
    }
  }

  function slider() {
    var range = document.getElementById("at");
    if (!range) { return; }
    var output = document.getElementById("at-shown");
    range.addEventListener("input", function () { output.textContent = shownAt(Number(range.value)); });
    range.addEventListener("change", function () { range.form.submit(); });
  }

  function zoneButton() {
    var button = document.getElementById("browser-zone");
    var field = document.getElementById("tz");
    if (!button || !field || !window.Intl) { return; }
    var mine = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (!mine || mine === field.value) { return; }
    button.textContent = "Use my zone (" + mine + ")";
    button.hidden = false;
    button.addEventListener("click", function () { field.value = mine; field.form.submit(); });
  }

  function rows() {
    return Array.prototype.filter.call(
      document.querySelectorAll("table.rows tbody tr"),
      function (row) { return row.querySelector("a"); });
  }

  function move(step) {
    var all = rows();
    if (!all.length) { return; }
    var at = all.findIndex(function (row) { return row.contains(document.activeElement); });
    var next = at < 0 ? (step > 0 ? 0 : all.length - 1) : Math.min(all.length - 1, Math.max(0, at + step));
    var link = all[next].querySelector("a");
    link.focus();
    all[next].scrollIntoView({ block: "nearest" });
  }

  var pages = { b: "/board", q: "/queue", c: "/customers", r: "/rejections", a: "/audit" };
  var pending = false;

  function keys(event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) { return; }
    var key = event.key;
    if (pending) {
      pending = false;
      var link = document.querySelector('.top nav a[href^="' + pages[key] + '"]');
      if (pages[key] && link) { event.preventDefault(); window.location.href = link.href; }
      return;
    }
    if (key === "j") { event.preventDefault(); move(1); }
    else if (key === "k") { event.preventDefault(); move(-1); }
    else if (key === "g") { pending = true; }
    else if (key === "/") {
      var field = document.getElementById("as_of");
      if (field) { event.preventDefault(); field.focus(); field.select(); }
    } else if (key === "?") {
      var dialog = document.getElementById("keys");
      if (dialog && dialog.showModal && !dialog.open) { event.preventDefault(); dialog.showModal(); }
    } else if (key === "[" || key === "]") {
      var range = document.getElementById("at");
      if (range) {
        event.preventDefault();
        if (key === "[") { range.stepDown(); } else { range.stepUp(); }
        range.dispatchEvent(new Event("change"));
      }
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    slider();
    zoneButton();
    document.addEventListener("keydown", keys);
  });
}());
