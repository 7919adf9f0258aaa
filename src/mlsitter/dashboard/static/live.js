// Live updates by short polling: ask a cheap "stamp" endpoint every few seconds and, when the
// stamp changed, fetch the page again and swap its <main>. A form being filled in is never replaced.
(function () {
  "use strict";
  var body = document.body;
  var url = body.getAttribute("data-stamp-url");

  // The run page asks for its journal's verification after it has rendered (it hashes every event).
  function checkJournal() {
    var slot = document.getElementById("verify");
    if (!slot || !slot.getAttribute("data-verify-url")) return;
    fetch(slot.getAttribute("data-verify-url"), {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.json(); })
      .then(function (rep) {
        slot.textContent = "";
        var mark = document.createElement("span");
        mark.className = rep.ok ? "pass" : "fail";
        mark.textContent = rep.ok ? "verified" : "verification FAILED";
        slot.appendChild(mark);
        slot.appendChild(document.createTextNode(rep.ok
          ? " \u2014 " + rep.events + " events chained, " + rep.artifacts + " artifacts intact"
          : ": " + (rep.problems || [rep.detail]).join("; ")));
      })
      .catch(function () { slot.textContent = "verification could not be fetched"; });
  }
  checkJournal();
  if (!url) return;
  var stamp = body.getAttribute("data-stamp");
  var busy = false;

  function typing(main) {
    var fields = main.querySelectorAll("textarea, input[type=text], input[type=search]");
    for (var i = 0; i < fields.length; i++) {
      if (fields[i].value !== fields[i].defaultValue || fields[i] === document.activeElement) return true;
    }
    return false;
  }

  function swap(html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var fresh = doc.getElementById("live");
    var main = document.getElementById("live");
    if (!fresh || !main) return;
    if (typing(main)) {
      document.getElementById("live-note").hidden = false;
      return;
    }
    main.innerHTML = fresh.innerHTML;
    checkJournal();
    var count = doc.getElementById("inbox-count");
    var mine = document.getElementById("inbox-count");
    if (mine && count) mine.textContent = count.textContent;
    var next = doc.body.getAttribute("data-stamp");
    if (next !== null) stamp = next;
    if (!doc.body.getAttribute("data-stamp-url")) url = null;  // the run ended: stop polling
  }

  function poll() {
    if (busy || !url || document.hidden) return;
    busy = true;
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data || data.stamp === stamp) return null;
        stamp = data.stamp;
        return fetch(location.href, {credentials: "same-origin"}).then(function (r) { return r.text(); }).then(swap);
      })
      .catch(function () { /* the server may be restarting: try again on the next tick */ })
      .then(function () { busy = false; });
  }

  setInterval(poll, 1500);
})();
