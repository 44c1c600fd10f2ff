// The language model page: while a retrain runs, poll its status and update the page.
// Without this file the page says a run is under way and offers a refresh link.
(function () {
  var box = document.getElementById("retrain-status");
  if (!box || box.getAttribute("data-running") !== "yes") {
    return;
  }
  var url = box.getAttribute("data-status-url");
  var badges = { done: "badge good", failed: "badge bad", training: "badge wait", loading: "badge wait" };

  function field(name) {
    return box.querySelector('[data-field="' + name + '"]');
  }

  function show(status) {
    field("model").textContent = status.model || "none known";
    field("state").textContent = status.state;
    field("state").className = badges[status.state] || "badge";
    field("queued").textContent = status.queued ? " (another run follows)" : "";
    field("reason").textContent = status.reason || "";
    field("started_at").textContent = status.started_at || "–";
    field("finished_at").textContent = status.finished_at || "–";
    field("load_seconds").textContent = status.load_seconds === null ? "–"
      : status.load_seconds + " s to load the new model into Rasa";
    field("error").hidden = status.state !== "failed";
    field("error-text").textContent = status.error || "";
    field("refresh").hidden = !status.running;
    var progress = field("progress");
    progress.textContent = status.progress.length ? status.progress.join("\n") + "\n" : "No run yet.";
    progress.scrollTop = progress.scrollHeight;
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error(response.status);
        }
        return response.json();
      })
      .then(function (status) {
        show(status);
        if (status.running || status.queued) {
          window.setTimeout(poll, 2000);
        }
      })
      .catch(function () {
        window.setTimeout(poll, 10000); // the app restarting: try again, more slowly
      });
  }

  window.setTimeout(poll, 1000);
})();
