// Progressive enhancement for the PIN page; the page works without it.
// - Counts down the resend button and enables it when the wait is over.
// - Keeps only digits in the code field, turning full-width digits (typed
//   with a Japanese IME) into ASCII ones.
(function () {
  "use strict";

  var resend = document.getElementById("resend");
  if (resend && resend.getAttribute("aria-disabled") === "true") {
    var wait = parseInt(resend.getAttribute("data-wait"), 10) || 0;
    var waitLabel = resend.getAttribute("data-wait-label") || "";
    var readyLabel = resend.getAttribute("data-ready-label") || "";
    var end = Date.now() + wait * 1000;
    resend.addEventListener("click", function (e) {
      if (resend.getAttribute("aria-disabled") === "true") {
        e.preventDefault();
      }
    });
    var timer = setInterval(function () {
      var left = Math.ceil((end - Date.now()) / 1000);
      if (left <= 0) {
        clearInterval(timer);
        resend.removeAttribute("aria-disabled");
        resend.textContent = readyLabel;
      } else {
        resend.textContent = waitLabel.replace("{0}", String(left));
      }
    }, 1000);
  }

  var code = document.getElementById("code");
  if (code) {
    code.addEventListener("input", function () {
      var v = code.value.replace(/[\uFF10-\uFF19]/g, function (c) {
        return String.fromCharCode(c.charCodeAt(0) - 0xFEE0);
      }).replace(/[^0-9]/g, "");
      if (v !== code.value) {
        code.value = v;
      }
    });
  }
})();
