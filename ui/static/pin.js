// Progressive enhancement for the PIN page; the page works without it.
// - Counts down the buttons that must wait (resend, send the code) and
//   enables them when the wait is over.
// - Keeps only digits in the code field, turning full-width digits (typed
//   with a Japanese IME) into ASCII ones.
(function () {
  "use strict";

  // Every button with data-wait (resend, send the refused code) counts
  // down and is enabled when the wait is over; posted early, the server
  // only answers with the same wait.
  var waiting = document.querySelectorAll("[data-wait]");
  Array.prototype.forEach.call(waiting, function (button) {
    if (button.getAttribute("aria-disabled") !== "true") {
      return;
    }
    var wait = parseInt(button.getAttribute("data-wait"), 10) || 0;
    var waitLabel = button.getAttribute("data-wait-label") || "";
    var readyLabel = button.getAttribute("data-ready-label") || "";
    var end = Date.now() + wait * 1000;
    button.addEventListener("click", function (e) {
      if (button.getAttribute("aria-disabled") === "true") {
        e.preventDefault();
      }
    });
    var timer = setInterval(function () {
      var left = Math.ceil((end - Date.now()) / 1000);
      if (left <= 0) {
        clearInterval(timer);
        button.removeAttribute("aria-disabled");
        button.textContent = readyLabel;
      } else {
        button.textContent = waitLabel.replace("{0}", String(left));
      }
    }, 1000);
  });

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
