// Small progressive enhancements for the backoffice. Everything works
// without them; the CSP allows only scripts served from /admin/static.
(function () {
  "use strict";
  // Forms with data-confirm ask first (delete, revoke).
  document.addEventListener("submit", function (ev) {
    var f = ev.target;
    if (f instanceof HTMLFormElement && f.dataset.confirm && !window.confirm(f.dataset.confirm)) {
      ev.preventDefault();
      ev.stopImmediatePropagation();
    }
  }, true);
  // The tenant switcher submits on change; its button stays for keyboards
  // and browsers without script.
  document.addEventListener("change", function (ev) {
    var el = ev.target;
    if (el instanceof HTMLSelectElement && el.hasAttribute("data-autosubmit") && el.form) {
      el.form.requestSubmit();
    }
  });
  // Copy buttons: data-copy names the input to copy.
  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest ? ev.target.closest("[data-copy]") : null;
    if (!btn) return;
    var input = document.getElementById(btn.getAttribute("data-copy"));
    if (!input) return;
    input.select();
    var done = function () { btn.textContent = "Copied"; };
    if (navigator.clipboard) {
      navigator.clipboard.writeText(input.value).then(done, function () { document.execCommand("copy"); done(); });
    } else {
      document.execCommand("copy");
      done();
    }
  });
  document.addEventListener("focusin", function (ev) {
    var el = ev.target;
    if (el instanceof HTMLInputElement && el.hasAttribute("data-select-on-focus")) el.select();
  });
})();
