// The machine pre-translation page: follow the run's progress, then show its outcome.
// Without this file the page still works: its "refresh" link reloads it.
(function () {
  var box = document.getElementById("translation-status");
  if (!box || box.getAttribute("data-state") !== "running") {
    return;
  }
  var lines = document.getElementById("progress-lines");
  function poll() {
    fetch(box.getAttribute("data-status-url"), { credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (status) {
        if (lines && status.lines) {
          lines.textContent = status.lines.join("\n");
          lines.scrollTop = lines.scrollHeight;
        }
        if (status.state === "running") {
          window.setTimeout(poll, 1000);
        } else {
          window.location.reload();
        }
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  window.setTimeout(poll, 1000);
})();
