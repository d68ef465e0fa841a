// The console's only script besides htmx (no inline scripts: the Content-Security-Policy forbids them).
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // the viewer's time zone, so the server can show times in it (UTC until this has run once)
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  var had = document.cookie.split("; ").some(function (c) { return c.indexOf("tz=") === 0; });
  var current = (document.cookie.split("; ").filter(function (c) { return c.indexOf("tz=") === 0; })[0] || "").slice(3);
  if (zone && decodeURIComponent(current) !== zone) {
    document.cookie = "tz=" + encodeURIComponent(zone) + "; path=/; SameSite=Lax; max-age=31536000";
    if (!had && document.querySelector("[data-times]")) { window.location.reload(); }
  }

  // htmx requests carry the CSRF token the page was rendered with
  document.addEventListener("htmx:configRequest", function (e) {
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (meta) { e.detail.headers["X-CSRF-Token"] = meta.getAttribute("content"); }
  });

  document.addEventListener("change", function (e) {
    if (e.target.classList && e.target.classList.contains("autosubmit") && e.target.form) {
      e.target.form.requestSubmit();
    }
  });

  // forms that do something that cannot be undone say what happens first
  document.addEventListener("submit", function (e) {
    var msg = e.target.getAttribute && e.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) { e.preventDefault(); }
  }, true);

  // a button of a form with several (approve / reject) may ask on its own
  document.addEventListener("submit", function (e) {
    var msg = e.submitter && e.submitter.getAttribute && e.submitter.getAttribute("data-confirm");
    if (msg && !e.target.getAttribute("data-confirm") && !window.confirm(msg)) { e.preventDefault(); }
  }, true);
})();
