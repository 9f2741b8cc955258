/* Quality Development Tool: autosave that never loses typed text.
   - Every change is written to localStorage at once (keyed by assessment and criterion) and
     sent to the server after a short pause, with the version the page last saw.
   - 200: the answer is saved; the local copy is dropped.
   - 409 conflict: another tab saved a newer version. That one is kept and shown; this tab's
     own text is shown beside it to copy, or to save over the newer one on purpose.
   - 401 (session ended) or no network: the local copy stays; a page opened later (after a
     new launch) restores it and saves it.
   - When the tab becomes visible again, answers changed in another tab are loaded.
   Messages come from data-msg-* attributes, so they are translated with the page. */
(function () {
  "use strict";
  var form = document.getElementById("qdt-form");
  if (!form || form.dataset.editable !== "1") { return; }
  var status = document.getElementById("qdt-status");
  var remaining = document.getElementById("qdt-remaining");
  var d = form.dataset;
  var assessment = d.assessment;
  var csrf = form.querySelector("input[name=csrf_token]").value;
  var DELAY = 800;
  var state = {};  // criterion id -> {timer, inflight, queued, dirty}

  function key(cid) { return "qc-qdt:" + assessment + ":" + cid; }
  function conflictKey(cid) { return "qc-qdt-conflict:" + assessment + ":" + cid; }
  function store(k, value) {
    try {
      if (value === null) { window.localStorage.removeItem(k); }
      else { window.localStorage.setItem(k, JSON.stringify(value)); }
    } catch (e) { /* storage full or blocked: the server save still runs */ }
  }
  function load(k) {
    try { var v = window.localStorage.getItem(k); return v ? JSON.parse(v) : null; }
    catch (e) { return null; }
  }
  function say(text) { status.textContent = text; }
  function fmtTime(iso) {
    var t = iso ? new Date(iso) : new Date();
    return t.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }
  function section(cid) { return document.getElementById("c-" + cid); }
  function versionInput(sec) { return sec.querySelector("input[data-role=version]"); }
  function st(cid) {
    if (!state[cid]) { state[cid] = { timer: null, inflight: false, queued: false, dirty: false }; }
    return state[cid];
  }

  function collect(sec) {
    var cid = sec.dataset.criterion;
    var checked = sec.querySelector("input[name='level-" + cid + "']:checked");
    var evidence = [];
    sec.querySelectorAll(".ev-row").forEach(function (row) {
      var f = row.querySelectorAll("select, input");
      var item = { type: f[0].value, note: f[1].value, link: f[2].value };
      if (item.note.trim() || item.link.trim()) { evidence.push(item); }
    });
    return {
      level: checked ? checked.value : "",
      comment: sec.querySelector("textarea[name='comment-" + cid + "']").value,
      evidence: evidence,
      want_to_learn: sec.querySelector("input[name='want-" + cid + "']").checked,
      can_share: sec.querySelector("input[name='share-" + cid + "']").checked
    };
  }

  function addRow(sec) {
    var rows = sec.querySelector(".ev-rows");
    var n = rows.querySelectorAll(".ev-row").length;
    if (n >= parseInt(d.maxEvidence, 10)) { return null; }
    var tpl = document.getElementById("ev-row-template");
    var html = tpl.innerHTML.split("__CID__").join(sec.dataset.criterion)
      .split("__N__").join(String(n) + "-" + Date.now().toString(36));
    var wrap = document.createElement("div");
    wrap.innerHTML = html.trim();
    var row = wrap.firstElementChild;
    rows.appendChild(row);
    return row;
  }

  function apply(sec, data) {
    var cid = sec.dataset.criterion;
    var level = data.level === null || data.level === undefined ? "" : String(data.level);
    sec.querySelectorAll("input[name='level-" + cid + "']").forEach(function (r) {
      r.checked = r.value === level;
    });
    sec.querySelector("textarea[name='comment-" + cid + "']").value = data.comment || "";
    sec.querySelector("input[name='want-" + cid + "']").checked = !!data.want_to_learn;
    sec.querySelector("input[name='share-" + cid + "']").checked = !!data.can_share;
    var rows = sec.querySelector(".ev-rows");
    rows.innerHTML = "";
    (data.evidence || []).forEach(function (e) {
      var row = addRow(sec);
      if (!row) { return; }
      var f = row.querySelectorAll("select, input");
      f[0].value = e.type || "other"; f[1].value = e.note || ""; f[2].value = e.link || "";
    });
    addRow(sec);
  }

  function setVersion(sec, version) {
    versionInput(sec).value = String(version);
  }

  function same(a, b) { return JSON.stringify(a) === JSON.stringify(b); }

  function showConflict(sec, mine, at) {
    var cid = sec.dataset.criterion;
    var old = sec.querySelector(".conflict");
    if (old) { old.remove(); }
    var box = document.createElement("div");
    box.className = "conflict";
    var p = document.createElement("p");
    p.textContent = d.msgConflict.replace("{time}", fmtTime(at));
    var label = document.createElement("label");
    label.textContent = d.msgYourText;
    label.htmlFor = "conflict-" + cid;
    var area = document.createElement("textarea");
    area.id = "conflict-" + cid; area.readOnly = true; area.rows = 3;
    var lines = [mine.comment || ""];
    (mine.evidence || []).forEach(function (e) { lines.push(e.type + ": " + e.note + " " + e.link); });
    area.value = lines.join("\n").trim();
    var use = document.createElement("button");
    use.type = "button"; use.className = "small"; use.textContent = d.msgUseMine;
    use.addEventListener("click", function () {
      // "text": the comment and evidence of this tab; the level and flags stay as saved
      var merged = collect(sec);
      merged.comment = mine.comment; merged.evidence = mine.evidence;
      apply(sec, merged); store(conflictKey(cid), null); box.remove(); changed(sec, true);
    });
    var dismiss = document.createElement("button");
    dismiss.type = "button"; dismiss.className = "secondary small"; dismiss.textContent = d.msgDismiss;
    dismiss.addEventListener("click", function () { store(conflictKey(cid), null); box.remove(); });
    box.append(p, label, area, use, dismiss);
    sec.appendChild(box);
    store(conflictKey(cid), { data: mine, at: at });
  }

  function send(sec, keepalive) {
    var cid = sec.dataset.criterion;
    var s = st(cid);
    if (s.inflight) { s.queued = true; return Promise.resolve(); }
    var data = collect(sec);
    var base = parseInt(versionInput(sec).value, 10) || 0;
    var body = Object.assign({ version: base }, data);
    s.inflight = true; s.dirty = false;
    sec.querySelector(".crit-msg").textContent = "";
    say(d.msgSaving);
    return fetch(d.saveUrl.replace("__CID__", encodeURIComponent(cid)), {
      method: "POST", credentials: "same-origin", keepalive: !!keepalive,
      headers: { "Content-Type": "application/json", "Accept": "application/json",
                 "X-CSRFToken": csrf },
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) { return [r.status, j]; });
    }).then(function (res) {
      var code = res[0], j = res[1];
      if (code === 200) {
        setVersion(sec, j.answer.version);
        var local = load(key(cid));
        if (local && same(local.data, data)) { store(key(cid), null); }
        else if (local) { local.base = j.answer.version; store(key(cid), local); }
        if (remaining && typeof j.unanswered === "number") {
          remaining.textContent = d.msgRemaining.replace("{n}", j.unanswered);
        }
        say(d.msgSaved.replace("{time}", fmtTime()));
      } else if (code === 409 && j.error === "conflict" && j.current) {
        apply(sec, j.current);
        setVersion(sec, j.current.version);
        store(key(cid), null);
        showConflict(sec, data, j.current.updated_at);
        say(d.msgConflict.replace("{time}", fmtTime(j.current.updated_at)));
      } else if (code === 401 || j.error === "csrf") {
        s.dirty = true; say(d.msgExpired);
      } else if (code === 409) {
        say(d.msgLocked);
      } else {
        s.dirty = true;
        sec.querySelector(".crit-msg").textContent = d.msgInvalid + " " + (j.message || code);
        say(d.msgInvalid + " " + (j.message || code));
      }
    }).catch(function () {
      s.dirty = true; say(d.msgOffline);
      setTimeout(function () { if (st(cid).dirty) { send(sec); } }, 5000);
    }).finally(function () {
      s.inflight = false;
      if (s.queued) { s.queued = false; send(sec); }
    });
  }

  function changed(sec, now) {
    var cid = sec.dataset.criterion;
    var s = st(cid);
    s.dirty = true;
    store(key(cid), { base: parseInt(versionInput(sec).value, 10) || 0, data: collect(sec),
                      at: new Date().toISOString() });
    say(d.msgUnsaved);
    clearTimeout(s.timer);
    s.timer = setTimeout(function () { send(sec); }, now ? 0 : DELAY);
  }

  form.addEventListener("input", function (ev) {
    var sec = ev.target.closest("section.criterion");
    if (sec) { changed(sec, false); }
  });
  form.addEventListener("change", function (ev) {
    var sec = ev.target.closest("section.criterion");
    if (sec) { changed(sec, false); }
  });
  form.addEventListener("click", function (ev) {
    var btn = ev.target.closest("[data-action=add-evidence]");
    if (!btn) { return; }
    var row = addRow(btn.closest("section.criterion"));
    if (row) { row.querySelector("input").focus(); }
  });

  function flushAll(keepalive) {
    var pending = [];
    form.querySelectorAll("section.criterion").forEach(function (sec) {
      var s = st(sec.dataset.criterion);
      if (s.dirty || s.timer) { clearTimeout(s.timer); s.timer = null; pending.push(send(sec, keepalive)); }
    });
    return Promise.all(pending);
  }

  form.addEventListener("submit", function (ev) {
    var dirty = Object.keys(state).some(function (c) { return state[c].dirty || state[c].inflight; });
    if (!dirty) { return; }
    ev.preventDefault();
    var go = ev.submitter ? ev.submitter.value : "stay";
    flushAll(false).then(function () {
      var hidden = document.createElement("input");
      hidden.type = "hidden"; hidden.name = "go"; hidden.value = go;
      form.appendChild(hidden);
      HTMLFormElement.prototype.submit.call(form);
    });
  });
  window.addEventListener("pagehide", function () { flushAll(true); });

  // Resume: restore text this browser kept but the server never got.
  form.querySelectorAll("section.criterion").forEach(function (sec) {
    var cid = sec.dataset.criterion;
    var pendingConflict = load(conflictKey(cid));
    if (pendingConflict) { showConflict(sec, pendingConflict.data, pendingConflict.at); }
    var local = load(key(cid));
    if (!local) { return; }
    var version = parseInt(versionInput(sec).value, 10) || 0;
    if (same(local.data, collect(sec))) { store(key(cid), null); return; }
    if (local.base === version) {
      apply(sec, local.data);
      say(d.msgRestored);
      changed(sec, true);
    } else {
      store(key(cid), null);
      showConflict(sec, local.data, local.at);
    }
  });

  // Another tab may have saved while this one was hidden: load those answers.
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState !== "visible") { return; }
    fetch(d.answersUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (j) {
        if (!j) { return; }
        j.answers.forEach(function (a) {
          var sec = section(a.criterion);
          if (!sec || st(a.criterion).dirty || st(a.criterion).inflight) { return; }
          var version = parseInt(versionInput(sec).value, 10) || 0;
          if (a.version > version) { apply(sec, a); setVersion(sec, a.version); say(d.msgUpdated); }
        });
      }).catch(function () { /* offline: the next save reports it */ });
  });
})();
