/* Dynamic Registration: tell the platform's page that the tool is done
   ({subject: "org.imsglobal.lti.close"}), to the platform's origin only, never "*". */
(function () {
  "use strict";
  var el = document.getElementById("lti-close");
  if (!el || !el.dataset.origin) { return; }
  function close() {
    var target = window.opener || (window.parent !== window ? window.parent : null);
    if (target) { target.postMessage({subject: "org.imsglobal.lti.close"}, el.dataset.origin); }
  }
  if (el.dataset.auto === "1") { close(); }
  var button = document.getElementById("lti-close-button");
  if (button) { button.addEventListener("click", close); }
})();
