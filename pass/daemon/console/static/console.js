// licensync console: progressive enhancement only; every page works without it.
(function () {
  "use strict";
  // Filters apply as soon as a select or the order box changes.
  document.querySelectorAll("form .autosubmit").forEach(function (el) {
    el.addEventListener("change", function () { el.form.submit(); });
  });
  // After "check now", move the focus to its result for keyboard and
  // screen-reader users.
  var check = document.getElementById("check-h");
  if (check) { check.focus(); }
  // The overview, left open, refreshes every minute while it is visible
  // and nobody is typing in it.
  if (document.body.dataset.page === "overview") {
    setInterval(function () {
      var a = document.activeElement;
      var typing = a && (a.tagName === "INPUT" || a.tagName === "SELECT");
      if (document.visibilityState === "visible" && !typing) { window.location.reload(); }
    }, 60000);
  }
  // While a plan asked for on the Downloads page is coming, look again
  // every two seconds until its file is there.
  if (document.getElementById("plan-pending")) {
    setTimeout(function () { window.location.reload(); }, 2000);
  }
})();
