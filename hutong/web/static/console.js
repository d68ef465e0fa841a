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

  // The rights holder's "Add a work": the file goes up as the request body with a progress bar (XHR reports
  // upload progress; fetch cannot), then the answer, the registration's status part, takes the place of
  // #registration and polls itself through htmx until the work is registered or refused.
  function refusal(xhr, fallback) {
    try {
      var doc = new DOMParser().parseFromString(xhr.responseText, "text/html");
      var el = doc.querySelector("main .error");
      if (el) { return el.textContent.trim(); }
      var json = JSON.parse(xhr.responseText);
      if (json && json.detail) { return json.detail; }
    } catch (ignored) { /* neither a page nor JSON: say what we know */ }
    return fallback;
  }

  function showRegistration(html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var fresh = doc.getElementById("registration");
    var old = document.getElementById("registration");
    if (!fresh || !old) { return; }
    var el = document.importNode(fresh, true);
    old.replaceWith(el);
    if (window.htmx) { window.htmx.process(el); }
    // registered before the answer came back: the list of works shows it now (later, htmx's HX-Trigger does)
    if (el.getAttribute("data-state") === "done") { document.body.dispatchEvent(new Event("work-registered")); }
  }

  function sayUploadError(text) {
    var box = document.getElementById("registration");
    if (!box) { return; }
    box.className = "";
    box.textContent = "";
    var p = document.createElement("p");
    p.className = "error";
    p.setAttribute("role", "alert");
    p.textContent = text;
    box.appendChild(p);
  }

  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (form.id !== "upload-form" || e.defaultPrevented) { return; }
    e.preventDefault();
    var file = form.elements.file.files[0];
    if (!file) { sayUploadError(form.getAttribute("data-msg-choose")); return; }
    if (file.size > Number(form.getAttribute("data-max-bytes"))) {
      sayUploadError(form.getAttribute("data-msg-too-large"));
      return;
    }
    var params = new URLSearchParams({ filename: file.name, title: form.elements.title.value,
                                       holder: form.elements.holder ? form.elements.holder.value : "" });
    var box = form.querySelector(".upload-progress");
    var bar = form.querySelector("progress");
    var percent = form.querySelector(".upload-percent");
    var button = form.querySelector("button[type=submit]");
    var meta = document.querySelector('meta[name="csrf-token"]');
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.getAttribute("action") + "?" + params.toString());
    xhr.setRequestHeader("X-CSRF-Token", meta ? meta.getAttribute("content") : "");
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.upload.addEventListener("progress", function (ev) {
      if (ev.lengthComputable) {
        bar.value = Math.round(ev.loaded * 100 / ev.total);
        percent.textContent = bar.value + " %";
      }
    });
    xhr.addEventListener("load", function () {
      button.disabled = false;
      box.hidden = true;
      if (xhr.status === 202) {
        form.reset();
        showRegistration(xhr.responseText);
      } else {
        sayUploadError(refusal(xhr, form.getAttribute("data-msg-failed")));
      }
    });
    xhr.addEventListener("error", function () {
      button.disabled = false;
      box.hidden = true;
      sayUploadError(form.getAttribute("data-msg-failed"));
    });
    bar.value = 0;
    percent.textContent = "0 %";
    box.hidden = false;
    button.disabled = true;
    xhr.send(file);
  });
})();
