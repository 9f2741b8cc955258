/* LTI platform storage (lti.put_data / lti.get_data postMessages), used only when the
   platform announced lti_storage_target. Configuration comes from data-* attributes. */
(function () {
  "use strict";
  var el = document.getElementById("lti-storage");
  if (!el) { return; }
  var d = el.dataset;
  var targetName = d.target, origin = d.origin, key = d.key;
  function frame() {
    var parent = window.opener || window.parent;
    if (!targetName || targetName === "_parent") { return parent; }
    try { return parent.frames[targetName] || parent; } catch (e) { return parent; }
  }
  function send(message, responseSubject, done) {
    var id = Math.random().toString(36).slice(2) + Date.now().toString(36);
    message.message_id = id;
    var finished = false;
    function finish(value) { if (!finished) { finished = true; done(value); } }
    window.addEventListener("message", function (event) {
      if (event.origin !== origin) { return; }
      var data = event.data || {};
      if (data.subject === responseSubject && data.message_id === id) {
        finish(data.error ? null : data);
      }
    });
    try { frame().postMessage(message, origin); } catch (e) { finish(null); return; }
    setTimeout(function () { finish(null); }, 2000);
  }
  if (d.mode === "put") {
    send({subject: "lti.put_data", key: key, value: d.value}, "lti.put_data.response",
      function () { window.location.replace(d.redirect); });
  } else {
    send({subject: "lti.get_data", key: key}, "lti.get_data.response", function (data) {
      var form = document.getElementById("storage-form");
      if (data && typeof data.value === "string") {
        form.elements.qc_storage_secret.value = data.value;
      }
      form.submit();
    });
  }
})();
