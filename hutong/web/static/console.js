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

// Creator: a clip is uploaded as the request body with a progress bar (streamed to disk on the server),
// then the browser goes to the check's page, which follows recognition by itself (htmx polling).
(function () {
  "use strict";
  function say(form, text, bad) {
    var out = form.querySelector(".upload-status");
    out.textContent = text;
    out.className = "upload-status" + (bad ? " error" : "");
  }
  function reason(xhr, fallback) {
    try {
      var doc = new DOMParser().parseFromString(xhr.responseText, "text/html");
      var p = doc.querySelector("main .error, main p");
      if (p && p.textContent.trim()) { return p.textContent.trim(); }
      var json = JSON.parse(xhr.responseText);
      return json.detail || fallback;
    } catch (err) { return fallback; }
  }
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!form.hasAttribute || !form.hasAttribute("data-upload")) { return; }
    e.preventDefault();
    var file = form.querySelector("input[type=file]").files[0];
    if (!file) { return; }
    if (file.size === 0) { say(form, form.getAttribute("data-empty"), true); return; }
    if (file.size > Number(form.getAttribute("data-max-bytes"))) { say(form, form.getAttribute("data-too-large"), true); return; }
    var q = new URLSearchParams();
    q.set("name", file.name);
    ["creator", "platform"].forEach(function (n) { var el = form.elements[n]; if (el && el.value) { q.set(n, el.value); } });
    if (form.elements.monetised && form.elements.monetised.checked) { q.set("monetised", "true"); }
    var bar = form.querySelector("progress");
    form.querySelector(".upload-progress").hidden = false;
    form.querySelector("button[type=submit]").disabled = true;
    say(form, "", false);
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.getAttribute("data-upload") + "?" + q.toString());
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.setRequestHeader("X-CSRF-Token", form.elements.csrf.value);
    xhr.upload.addEventListener("progress", function (p) {
      if (p.lengthComputable) { bar.value = Math.round(100 * p.loaded / p.total); }
    });
    xhr.addEventListener("load", function () {
      if (xhr.status < 400 && xhr.responseURL.indexOf("/console/creator/checks/") >= 0) {
        bar.value = 100;
        window.location.assign(xhr.responseURL);
        return;
      }
      form.querySelector("button[type=submit]").disabled = false;
      say(form, reason(xhr, form.getAttribute("data-failed")), true);
    });
    xhr.addEventListener("error", function () {
      form.querySelector("button[type=submit]").disabled = false;
      say(form, form.getAttribute("data-failed"), true);
    });
    xhr.send(file);
  });


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
